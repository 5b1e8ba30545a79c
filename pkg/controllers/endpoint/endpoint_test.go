package endpoint

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

type fixture struct {
	t      *testing.T
	client *fake.Clientset
	inf    informers.SharedInformerFactory
	e      *controller
}

func newFixture(t *testing.T) *fixture {
	client := fake.NewClientset()
	inf := informers.NewSharedInformerFactory(client, 0)
	e := newController(client, record.NewFakeRecorder(10), inf.Core().V1().Services().Informer(),
		inf.Core().V1().Pods().Informer(), inf.Core().V1().Endpoints().Informer())
	return &fixture{t: t, client: client, inf: inf, e: e}
}

func (f *fixture) add(objs ...interface{}) {
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			err = f.inf.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = f.inf.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Endpoints:
			err = f.inf.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
			if err == nil {
				_, err = f.client.CoreV1().Endpoints(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
				if apierrors.IsAlreadyExists(err) {
					err = nil
				}
			}
		}
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) sync(key string) *corev1.Endpoints {
	f.t.Helper()
	if err := f.e.sync(context.Background(), key); err != nil {
		f.t.Fatalf("sync %s: %v", key, err)
	}
	ns, name := "ns", key[len("ns/"):]
	ep, err := f.client.CoreV1().Endpoints(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return ep
}

func service(name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.43.0.20",
			Ports: ports, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}},
	}
}

func pod(name, ip string, ready bool, containerPorts ...corev1.ContainerPort) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	var ips []corev1.PodIP
	if ip != "" {
		ips = []corev1.PodIP{{IP: ip}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Ports: containerPorts}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: ips,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func TestReadyAndNotReadyAddressesWithNamedPort(t *testing.T) {
	f := newFixture(t)
	f.add(service("web", corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}),
		pod("a", "10.42.0.5", true, corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}),
		pod("b", "10.42.0.6", false, corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}),
		// Another port number behind the same name: its own subset.
		pod("c", "10.42.0.7", true, corev1.ContainerPort{Name: "http", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}),
		// No such named port: not listed.
		pod("d", "10.42.0.8", true),
		// No IP yet: not listed.
		pod("e", "", true, corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}))
	ep := f.sync("ns/web")
	if ep == nil {
		t.Fatal("no endpoints created")
	}
	if ep.Labels["team"] != "a" {
		t.Errorf("labels = %v, want the service's", ep.Labels)
	}
	got := map[int32]string{}
	for _, s := range ep.Subsets {
		if len(s.Ports) != 1 || s.Ports[0].Name != "http" {
			t.Fatalf("subset ports = %v", s.Ports)
		}
		desc := ""
		for _, a := range s.Addresses {
			desc += "ready:" + a.IP + " "
			if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.NodeName == nil || *a.NodeName != "node-1" {
				t.Errorf("address %v lacks targetRef/nodeName", a)
			}
		}
		for _, a := range s.NotReadyAddresses {
			desc += "notready:" + a.IP + " "
		}
		got[s.Ports[0].Port] = desc
	}
	want := map[int32]string{8080: "ready:10.42.0.5 notready:10.42.0.6 ", 9090: "ready:10.42.0.7 "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("subsets = %v, want %v", got, want)
	}
	// A second sync with nothing changed writes nothing.
	ep.ResourceVersion = "1" // the fake clientset sets none
	f.add(ep)
	f.client.ClearActions()
	f.sync("ns/web")
	for _, a := range f.client.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("unexpected write on a no-op sync: %v", a)
		}
	}
}

func TestPublishNotReadyAddressesAndTerminating(t *testing.T) {
	f := newFixture(t)
	svc := service("web", corev1.ServicePort{Name: "p", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)})
	svc.Spec.PublishNotReadyAddresses = true
	terminating := pod("t", "10.42.0.9", true)
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	f.add(svc, pod("b", "10.42.0.6", false), terminating)
	ep := f.sync("ns/web")
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 2 || len(ep.Subsets[0].NotReadyAddresses) != 0 {
		t.Fatalf("subsets = %+v, want both pods ready when publishing not-ready addresses", ep.Subsets)
	}

	// Without publishNotReadyAddresses the terminating pod is dropped.
	f2 := newFixture(t)
	f2.add(service("web", corev1.ServicePort{Name: "p", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}), terminating)
	ep = f2.sync("ns/web")
	if len(ep.Subsets) != 0 {
		t.Fatalf("subsets = %+v, want a terminating pod left out", ep.Subsets)
	}
}

func TestSelectorlessServiceLeftAlone(t *testing.T) {
	f := newFixture(t)
	svc := service("kubernetes")
	svc.Spec.Selector = nil
	existing := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "ns"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}},
			Ports: []corev1.EndpointPort{{Name: "https", Port: 6443}}}}}
	f.add(svc, existing)
	f.client.ClearActions()
	ep := f.sync("ns/kubernetes")
	if len(f.client.Actions()) != 1 || ep.Subsets[0].Addresses[0].IP != "192.0.2.1" {
		t.Fatalf("selector-less service's endpoints touched: %v", f.client.Actions())
	}
}

func TestDeletedServiceDeletesEndpoints(t *testing.T) {
	f := newFixture(t)
	f.add(&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: "ns"}})
	if ep := f.sync("ns/gone"); ep != nil {
		t.Fatalf("endpoints of a deleted service kept: %v", ep)
	}
}

func TestHeadlessWithoutPortsAndHostname(t *testing.T) {
	f := newFixture(t)
	svc := service("db")
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	p := pod("db-0", "10.42.0.5", true)
	p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db"
	f.add(svc, p)
	ep := f.sync("ns/db")
	if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("labels = %v, want %s", ep.Labels, corev1.IsHeadlessService)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Ports) != 0 || len(ep.Subsets[0].Addresses) != 1 ||
		ep.Subsets[0].Addresses[0].Hostname != "db-0" {
		t.Fatalf("subsets = %+v, want one portless address with hostname db-0", ep.Subsets)
	}
}

func TestOverCapacityTruncated(t *testing.T) {
	f := newFixture(t)
	f.add(service("big", corev1.ServicePort{Name: "p", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}))
	for i := 0; i < 1100; i++ {
		f.add(pod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.42.%d.%d", i/250, i%250+1), i%2 == 0))
	}
	ep := f.sync("ns/big")
	if ep.Annotations[corev1.EndpointsOverCapacity] != truncated {
		t.Errorf("annotations = %v, want over-capacity truncated", ep.Annotations)
	}
	ready, notReady := 0, 0
	for _, s := range ep.Subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready != 550 || notReady != 450 {
		t.Errorf("ready %d, not ready %d: want all 550 ready kept and 450 not ready", ready, notReady)
	}
}

func TestRepackGroupsAddressesByPorts(t *testing.T) {
	addr := func(ip string) corev1.EndpointAddress { return corev1.EndpointAddress{IP: ip} }
	p80 := corev1.EndpointPort{Name: "a", Port: 80}
	p90 := corev1.EndpointPort{Name: "b", Port: 90}
	out := repackSubsets([]corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.2")}, Ports: []corev1.EndpointPort{p80}},
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.1")}, Ports: []corev1.EndpointPort{p80}},
		{Addresses: []corev1.EndpointAddress{addr("10.0.0.1")}, Ports: []corev1.EndpointPort{p90}},
		{NotReadyAddresses: []corev1.EndpointAddress{addr("10.0.0.2")}, Ports: []corev1.EndpointPort{p90}},
	})
	got := fmt.Sprint(out)
	again := fmt.Sprint(repackSubsets(out))
	if got != again {
		t.Errorf("repack is not stable:\n%s\n%s", got, again)
	}
	if len(out) != 2 {
		t.Fatalf("got %d subsets, want 2: %v", len(out), out)
	}
}
