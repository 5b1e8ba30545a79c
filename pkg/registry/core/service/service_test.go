package service

import (
	"context"
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/skiff-k8s/skiff/pkg/registry/core/service/allocator"
	"github.com/skiff-k8s/skiff/pkg/registry/core/service/ipallocator"
	"github.com/skiff-k8s/skiff/pkg/registry/core/service/portallocator"
)

func svc(name string, typ corev1.ServiceType, ports ...corev1.ServicePort) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: typ, Ports: ports, Selector: map[string]string{"app": name}}}
	Defaults(s)
	return s
}

func TestDefaults(t *testing.T) {
	lb := svc("lb", corev1.ServiceTypeLoadBalancer, corev1.ServicePort{Port: 80})
	if lb.Spec.SessionAffinity != corev1.ServiceAffinityNone || lb.Spec.Ports[0].Protocol != corev1.ProtocolTCP ||
		lb.Spec.Ports[0].TargetPort != intstr.FromInt32(80) || lb.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster ||
		*lb.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster || !*lb.Spec.AllocateLoadBalancerNodePorts {
		t.Fatalf("LoadBalancer defaults wrong: %+v", lb.Spec)
	}
	plain := &corev1.Service{}
	Defaults(plain)
	if plain.Spec.Type != corev1.ServiceTypeClusterIP || plain.Spec.ExternalTrafficPolicy != "" || plain.Spec.AllocateLoadBalancerNodePorts != nil {
		t.Fatalf("ClusterIP defaults wrong: %+v", plain.Spec)
	}
	ext := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}}
	Defaults(ext)
	if ext.Spec.InternalTrafficPolicy != nil {
		t.Fatal("ExternalName got an internalTrafficPolicy")
	}
	initIPFamilies(plain)
	if *plain.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || len(plain.Spec.IPFamilies) != 1 || plain.Spec.IPFamilies[0] != corev1.IPv4Protocol {
		t.Fatalf("ip families: %v %v", plain.Spec.IPFamilyPolicy, plain.Spec.IPFamilies)
	}
	headless := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "None"}}
	Defaults(headless)
	initIPFamilies(headless)
	if *headless.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyRequireDualStack {
		t.Fatalf("selectorless headless policy %v", *headless.Spec.IPFamilyPolicy)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Service)
		want   string // "" means valid
	}{
		{"valid", func(*corev1.Service) {}, ""},
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, "spec.ports: Required value"},
		{"bad type", func(s *corev1.Service) { s.Spec.Type = "Foo" }, `spec.type: Unsupported value: "Foo"`},
		{"two unnamed ports", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 81, Protocol: "TCP", TargetPort: intstr.FromInt32(81)})
		}, "spec.ports[0].name: Required value"},
		{"port range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 }, "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"},
		{"nodePort on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30001 },
			"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
		{"bad clusterIP", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "x", []string{"x"} },
			`spec.clusterIPs[0]: Invalid value: "x": must be a valid IP address`},
		{"ExternalName without name", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.InternalTrafficPolicy = nil
		},
			"spec.externalName: Required value"},
		{"dual stack", func(s *corev1.Service) { p := corev1.IPFamilyPolicyRequireDualStack; s.Spec.IPFamilyPolicy = &p },
			"this cluster is not configured for dual-stack services"},
		{"headless NodePort", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ServiceTypeNodePort, "None", []string{"None"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, "may not be set to 'None' for NodePort services"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := svc("web", corev1.ServiceTypeClusterIP, corev1.ServicePort{Port: 80})
			initIPFamilies(s)
			tc.mutate(s)
			errs := Validate(s)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("errors %v do not contain %q", errs, tc.want)
			}
		})
	}
	if got := ValidateName("1abc", false); len(got) == 0 {
		t.Fatal("service names are DNS-1035 labels: 1abc must be refused")
	}
}

func TestRow(t *testing.T) {
	s := svc("web", corev1.ServiceTypeNodePort, corev1.ServicePort{Port: 80, NodePort: 30080}, corev1.ServicePort{Port: 53, Protocol: "UDP"})
	s.Spec.ClusterIP = "10.43.0.10"
	row := Row(s)
	if row[1] != "NodePort" || row[2] != "10.43.0.10" || row[3] != "<none>" || row[4] != "80:30080/TCP,53/UDP" || row[6] != "app=web" {
		t.Fatalf("row %v", row)
	}
	lb := svc("lb", corev1.ServiceTypeLoadBalancer, corev1.ServicePort{Port: 443})
	if r := Row(lb); r[3] != "<pending>" || r[2] != "<none>" {
		t.Fatalf("lb row %v", r)
	}
	lb.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}, {Hostname: "a-very-long-hostname.example.com"}}
	// Server-side tables are generated wide upstream: no "..." cut.
	if r := Row(lb); r[3] != "1.2.3.4,a-very-long-hostname.example.com" {
		t.Fatalf("lb ingress cell %q", r[3])
	}
	ext := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}}
	if r := Row(ext); r[3] != "db.example.com" || r[4] != "<none>" || r[6] != "<none>" {
		t.Fatalf("ExternalName row %v", r)
	}
}

type memAllocs struct {
	*allocators
	ips, ports *allocator.Memory
}

func newAllocs() memAllocs {
	_, n, _ := net.ParseCIDR("10.43.0.0/16")
	ips, ports := allocator.NewMemory(), allocator.NewMemory()
	return memAllocs{&allocators{ips: ipallocator.New(n, ips), ports: portallocator.New(30000, 2768, ports)}, ips, ports}
}

func held(t *testing.T, m *allocator.Memory) int {
	c, _ := m.Claimed(context.Background())
	return len(c)
}

func TestCreateAllocatesAndFailedCreateReleases(t *testing.T) {
	ctx := context.Background()
	a := newAllocs()
	s := svc("web", corev1.ServiceTypeLoadBalancer, corev1.ServicePort{Port: 80, Protocol: "TCP"}, corev1.ServicePort{Name: "dns", Port: 80, Protocol: "UDP"})
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	finish, err := a.beginCreate(ctx, s, &metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec.ClusterIP == "" || len(s.Spec.ClusterIPs) != 1 || s.Spec.Ports[0].NodePort == 0 || s.Spec.HealthCheckNodePort == 0 {
		t.Fatalf("nothing allocated: %+v", s.Spec)
	}
	if s.Spec.Ports[0].NodePort != s.Spec.Ports[1].NodePort {
		t.Fatalf("TCP and UDP of port 80 got different node ports %d, %d", s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort)
	}
	finish(ctx, false) // the store refused the object
	if held(t, a.ips) != 0 || held(t, a.ports) != 0 {
		t.Fatal("a failed create leaked allocations")
	}

	// A requested IP already held is refused with upstream's message.
	one := svc("one", corev1.ServiceTypeClusterIP, corev1.ServicePort{Port: 80})
	one.Spec.ClusterIP = "10.43.0.5"
	f1, err := a.beginCreate(ctx, one, &metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f1(ctx, true)
	two := svc("two", corev1.ServiceTypeClusterIP, corev1.ServicePort{Port: 80})
	two.Spec.ClusterIP = "10.43.0.5"
	_, err = a.beginCreate(ctx, two, &metav1.CreateOptions{})
	want := `spec.clusterIPs: Invalid value: ["10.43.0.5"]: failed to allocate IP 10.43.0.5: provided IP is already allocated`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}

	// Dry runs claim nothing.
	dry := svc("dry", corev1.ServiceTypeNodePort, corev1.ServicePort{Port: 80})
	if _, err := a.beginCreate(ctx, dry, &metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if dry.Spec.ClusterIP == "" || held(t, a.ips) != 1 || held(t, a.ports) != 0 {
		t.Fatalf("dry run: ip %q, %d ips and %d ports held", dry.Spec.ClusterIP, held(t, a.ips), held(t, a.ports))
	}
	// Headless and ExternalName services get no IP.
	h := svc("h", corev1.ServiceTypeClusterIP)
	h.Spec.ClusterIP = "None"
	en := svc("en", corev1.ServiceTypeExternalName)
	for _, s := range []*corev1.Service{h, en} {
		f, err := a.beginCreate(ctx, s, &metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f(ctx, true)
	}
	if held(t, a.ips) != 1 {
		t.Fatalf("headless or ExternalName took an IP: %d held", held(t, a.ips))
	}
}

func TestTypeChangesAndDelete(t *testing.T) {
	ctx := context.Background()
	a := newAllocs()
	old := svc("web", corev1.ServiceTypeNodePort, corev1.ServicePort{Port: 80, NodePort: 30080})
	f, err := a.beginCreate(ctx, old, &metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f(ctx, true)

	// NodePort -> ClusterIP: the node port goes back once the update is stored.
	upd := old.DeepCopy()
	upd.Spec.Type = corev1.ServiceTypeClusterIP
	f, err = a.beginUpdate(ctx, upd, old, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Spec.Ports[0].NodePort != 0 || upd.Spec.ExternalTrafficPolicy != "" {
		t.Fatalf("type-dependent fields kept: %+v", upd.Spec)
	}
	if held(t, a.ports) != 1 {
		t.Fatal("node port released before the update was stored")
	}
	f(ctx, true)
	if held(t, a.ports) != 0 {
		t.Fatal("node port not released after NodePort -> ClusterIP")
	}

	// ClusterIP -> ExternalName releases the IP; a replace without clusterIP keeps it.
	replace := upd.DeepCopy()
	replace.Spec.ClusterIP, replace.Spec.ClusterIPs = "", nil
	if _, err := a.beginUpdate(ctx, replace, upd, &metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if replace.Spec.ClusterIP != upd.Spec.ClusterIP {
		t.Fatalf("clusterIP not carried over: %q", replace.Spec.ClusterIP)
	}
	en := upd.DeepCopy()
	en.Spec.Type, en.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
	f, err = a.beginUpdate(ctx, en, upd, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f(ctx, true)
	if en.Spec.ClusterIP != "" || held(t, a.ips) != 0 {
		t.Fatalf("ClusterIP -> ExternalName kept its IP (%q, %d held)", en.Spec.ClusterIP, held(t, a.ips))
	}

	// Delete releases everything.
	lb := svc("lb", corev1.ServiceTypeLoadBalancer, corev1.ServicePort{Port: 443})
	f, _ = a.beginCreate(ctx, lb, &metav1.CreateOptions{})
	f(ctx, true)
	a.afterDelete(lb, &metav1.DeleteOptions{})
	if held(t, a.ips) != 0 || held(t, a.ports) != 0 {
		t.Fatal("delete did not release")
	}
}

func TestStatusUpdateAllocatesNothing(t *testing.T) {
	a := newAllocs()
	ctx := context.Background()
	old := svc("web", corev1.ServiceTypeNodePort, corev1.ServicePort{Port: 80})
	f, _ := a.beginCreate(ctx, old, &metav1.CreateOptions{})
	f(ctx, true)
	stale := old.DeepCopy()
	stale.Spec.Type = corev1.ServiceTypeClusterIP // a status writer with a stale spec
	statusCtx := genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{Resource: "services", Subresource: "status"})
	f, err := a.beginUpdate(statusCtx, stale, old, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f(statusCtx, true)
	if held(t, a.ports) != 1 || held(t, a.ips) != 1 {
		t.Fatal("a status update released allocations")
	}
}
