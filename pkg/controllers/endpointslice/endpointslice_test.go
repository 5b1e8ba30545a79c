package endpointslice

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func newTestController(t *testing.T, objs ...interface{}) (*controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset()
	inf := informers.NewSharedInformerFactory(client, 0)
	e := newController(client, record.NewFakeRecorder(10), inf.Core().V1().Services().Informer(),
		inf.Core().V1().Pods().Informer(), inf.Core().V1().Nodes().Informer(), inf.Discovery().V1().EndpointSlices().Informer())
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			err = inf.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = inf.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = inf.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return e, client
}

func testPod(name, ip string, ready, terminating bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
	if terminating {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func TestSliceConditionsLabelsAndPorts(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.43.0.20",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{corev1.LabelTopologyZone: "z1"}}}
	e, client := newTestController(t, svc, node,
		testPod("ready", "10.42.0.5", true, false),
		testPod("notready", "10.42.0.6", false, false),
		testPod("terminating", "10.42.0.7", true, true))
	if err := e.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	list, err := client.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("slices = %v, %v; want one", list, err)
	}
	s := list.Items[0]
	if !strings.HasPrefix(s.GenerateName, "web-") || s.Labels[discoveryv1.LabelServiceName] != "web" ||
		s.Labels[discoveryv1.LabelManagedBy] != ControllerName {
		t.Errorf("slice meta = %+v", s.ObjectMeta)
	}
	if len(s.Ports) != 1 || *s.Ports[0].Port != 8080 || *s.Ports[0].Name != "http" {
		t.Errorf("ports = %v, want http 8080", s.Ports)
	}
	type cond struct{ ready, serving, terminating bool }
	want := map[string]cond{"ready": {true, true, false}, "notready": {false, false, false}, "terminating": {false, true, true}}
	for _, ep := range s.Endpoints {
		c := cond{*ep.Conditions.Ready, *ep.Conditions.Serving, *ep.Conditions.Terminating}
		if w := want[ep.TargetRef.Name]; c != w {
			t.Errorf("%s: conditions %+v, want %+v", ep.TargetRef.Name, c, w)
		}
		if ep.Zone == nil || *ep.Zone != "z1" || ep.NodeName == nil || *ep.NodeName != "node-1" {
			t.Errorf("%s: zone/node not set: %+v", ep.TargetRef.Name, ep)
		}
		delete(want, ep.TargetRef.Name)
	}
	if len(want) != 0 {
		t.Errorf("missing endpoints %v", want)
	}
}

func TestSelectorlessServiceLeftAlone(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "ns"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}
	e, client := newTestController(t, svc)
	if err := e.sync(context.Background(), "ns/kubernetes"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Fatalf("selector-less service: %d API calls, want none: %v", n, client.Actions())
	}
}
