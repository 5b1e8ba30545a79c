package proxy

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var testNode = NodeInfo{Name: "n1", Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}

func testService(mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  "10.43.0.5",
			ClusterIPs: []string{"10.43.0.5"},
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("web")},
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)},
			},
		},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

type ep struct {
	ip                          string
	node                        string
	ready, serving, terminating *bool
}

func testSlice(eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(8080))},
			{Name: ptr.To("dns"), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(int32(5353))},
		},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			NodeName:   ptr.To(e.node),
			Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminating},
		})
	}
	return s
}

func key(s string, proto Protocol) FrontendKey {
	ap := netip.MustParseAddrPort(s)
	return FrontendKey{IP: ap.Addr(), Port: ap.Port(), Proto: proto}
}

func backends(f *Frontend) string {
	if f == nil {
		return "<no frontend>"
	}
	var out []string
	for _, b := range f.Backends {
		out = append(out, b.String())
	}
	return strings.Join(out, ",")
}

func TestBuildFrontendsClusterIP(t *testing.T) {
	fs := BuildFrontends(testService(nil), []*discoveryv1.EndpointSlice{testSlice(
		ep{ip: "10.42.0.3", node: "n1", ready: ptr.To(true)},
		ep{ip: "10.42.0.2", node: "n2"}, // nil ready means ready
		ep{ip: "10.42.0.4", node: "n1", ready: ptr.To(false), serving: ptr.To(true), terminating: ptr.To(true)},
		ep{ip: "10.42.0.5", node: "n1", ready: ptr.To(false)},
	)}, testNode)
	if len(fs) != 2 {
		t.Fatalf("got %d frontends, want 2 (tcp and udp on the ClusterIP): %v", len(fs), fs)
	}
	// The port name "http" resolves the named targetPort to 8080.
	if got := backends(fs[key("10.43.0.5:80", TCP)]); got != "10.42.0.2:8080,10.42.0.3:8080" {
		t.Errorf("tcp backends %s", got)
	}
	if got := backends(fs[key("10.43.0.5:53", UDP)]); got != "10.42.0.2:5353,10.42.0.3:5353" {
		t.Errorf("udp backends %s", got)
	}
}

func TestBuildFrontendsTerminatingFallback(t *testing.T) {
	fs := BuildFrontends(testService(nil), []*discoveryv1.EndpointSlice{testSlice(
		ep{ip: "10.42.0.4", node: "n1", ready: ptr.To(false), serving: ptr.To(true), terminating: ptr.To(true)},
		ep{ip: "10.42.0.6", node: "n1", ready: ptr.To(false), serving: ptr.To(false), terminating: ptr.To(true)},
	)}, testNode)
	if got := backends(fs[key("10.43.0.5:80", TCP)]); got != "10.42.0.4:8080" {
		t.Errorf("with nothing ready the serving terminating endpoint is used: got %q", got)
	}
}

func TestBuildFrontendsNoEndpoints(t *testing.T) {
	fs := BuildFrontends(testService(nil), nil, testNode)
	f := fs[key("10.43.0.5:80", TCP)]
	if f == nil || len(f.Backends) != 0 {
		t.Fatalf("a service without endpoints keeps its frontend with no backends (refused): %+v", f)
	}
}

func TestBuildFrontendsPortNameMismatch(t *testing.T) {
	svc := testService(func(s *corev1.Service) { s.Spec.Ports[0].Name = "other" })
	fs := BuildFrontends(svc, []*discoveryv1.EndpointSlice{testSlice(ep{ip: "10.42.0.2", node: "n1"})}, testNode)
	if got := backends(fs[key("10.43.0.5:80", TCP)]); got != "" {
		t.Errorf("endpoints of another port name must not be used: %q", got)
	}
}

func TestBuildFrontendsTrafficPolicies(t *testing.T) {
	svc := testService(func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.Ports = s.Spec.Ports[:1]
		s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.ExternalIPs = []string{"198.51.100.7", "2001:db8::1"}
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}, {IP: "203.0.113.9", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)}}
	})
	fs := BuildFrontends(svc, []*discoveryv1.EndpointSlice{testSlice(
		ep{ip: "10.42.0.2", node: "n1"}, ep{ip: "10.42.1.2", node: "n2"},
	)}, testNode)
	want := map[FrontendKey]string{
		key("10.43.0.5:80", TCP):     "10.42.0.2:8080",
		key("198.51.100.7:80", TCP):  "10.42.0.2:8080,10.42.1.2:8080",
		key("192.0.2.10:80", TCP):    "10.42.0.2:8080,10.42.1.2:8080",
		key("192.0.2.10:30080", TCP): "10.42.0.2:8080,10.42.1.2:8080",
		key("127.0.0.1:30080", TCP):  "10.42.0.2:8080,10.42.1.2:8080",
	}
	if len(fs) != len(want) {
		t.Errorf("got %d frontends, want %d: %v", len(fs), len(want), fs)
	}
	for k, w := range want {
		f := fs[k]
		if got := backends(f); got != w {
			t.Errorf("%s: backends %q, want %q", k, got, w)
			continue
		}
		if k.IP.String() != "10.43.0.5" {
			if !f.External || !f.LocalOnly || len(f.ExternalBackends) != 1 || f.ExternalBackends[0].String() != "10.42.0.2:8080" {
				t.Errorf("%s: externalTrafficPolicy Local keeps outside traffic on n1: %+v", k, f)
			}
		}
	}
}

func TestBuildFrontendsAffinityAndSkips(t *testing.T) {
	svc := testService(func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "sctp", Protocol: corev1.ProtocolSCTP, Port: 9})
	})
	fs := BuildFrontends(svc, nil, testNode)
	if f := fs[key("10.43.0.5:80", TCP)]; f == nil || f.Affinity != 3*time.Hour {
		t.Errorf("ClientIP affinity defaults to 10800s: %+v", f)
	}
	if len(fs) != 2 {
		t.Errorf("SCTP ports are not balanced: %v", fs)
	}
	for _, mod := range []func(*corev1.Service){
		func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		},
		func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName },
	} {
		if fs := BuildFrontends(testService(mod), nil, testNode); len(fs) != 0 {
			t.Errorf("headless and ExternalName services have no frontends: %v", fs)
		}
	}
}

func TestNFTRender(t *testing.T) {
	d := &nftDatapath{table: "t", fallback: false, cur: map[FrontendKey]*Frontend{}}
	b := []Backend{{netip.MustParseAddr("10.42.0.2"), 8080}, {netip.MustParseAddr("10.42.0.3"), 8080}}
	d.cur[key("10.43.0.5:80", TCP)] = &Frontend{Backends: b}
	d.cur[key("192.0.2.10:30080", TCP)] = &Frontend{Backends: b, External: true, ExternalBackends: b}
	d.cur[key("127.0.0.1:30080", TCP)] = &Frontend{Backends: b, External: true, ExternalBackends: b}
	d.cur[key("192.0.2.10:30053", UDP)] = &Frontend{External: true}
	out := d.render()
	for _, want := range []string{
		"192.0.2.10 . tcp . 30080 : goto fe-",
		"dnat ip to numgen random mod 2 map { 0 : 10.42.0.2 . 8080, 1 : 10.42.0.3 . 8080 }",
		"elements = { 192.0.2.10 . udp . 30053 }",
		"masquerade",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"10.43.0.5", "127.0.0.1"} {
		if strings.Contains(out, not) {
			t.Errorf("with the socket hooks, %s is not in the packet path:\n%s", not, out)
		}
	}
	d.fallback = true
	if out := d.render(); !strings.Contains(out, "10.43.0.5 . tcp . 80 : goto fe-") {
		t.Errorf("the fallback DNATs ClusterIPs:\n%s", out)
	}
}
