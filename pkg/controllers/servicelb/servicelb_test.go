package servicelb

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

func node(name string, ready bool, addrs ...corev1.NodeAddress) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{Addresses: addrs, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}}
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}
func external(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip}
}

func ips(in []corev1.LoadBalancerIngress) string {
	var out []string
	for _, i := range in {
		if i.IPMode == nil || *i.IPMode != corev1.LoadBalancerIPModeVIP {
			return fmt.Sprintf("%v without ipMode VIP", i)
		}
		out = append(out, i.IP)
	}
	return fmt.Sprint(out)
}

func TestIngress(t *testing.T) {
	cordoned := node("c", true, internal("10.0.0.3"))
	cordoned.Spec.Unschedulable = true
	excluded := node("x", true, internal("10.0.0.9"))
	excluded.Labels[LabelExcludeLB] = ""
	nodes := []*corev1.Node{
		node("b", true, internal("10.0.0.20"), internal("fd00::2")),
		node("a", true, internal("10.0.0.1"), external("203.0.113.1")),
		node("down", false, internal("10.0.0.4")),
		cordoned, excluded,
		node("v6", true, internal("fd00::1")),
	}
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	if got := ips(Ingress(svc, nodes)); got != "[10.0.0.20 203.0.113.1 fd00::1 fd00::2]" {
		t.Errorf("any family: %s", got)
	}
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	if got := ips(Ingress(svc, nodes)); got != "[10.0.0.20 203.0.113.1]" {
		t.Errorf("IPv4: %s", got)
	}
	// Once a node is labelled enablelb, only "true" ones serve.
	nodes[0].Labels[LabelEnableLB] = "true"
	nodes[1].Labels[LabelEnableLB] = "false"
	if got := ips(Ingress(svc, nodes)); got != "[10.0.0.20]" {
		t.Errorf("enablelb: %s", got)
	}
}

func TestSync(t *testing.T) {
	lb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}}}
	classed := lb.DeepCopy()
	classed.Name, classed.Spec.LoadBalancerClass = "classed", ptr.To("example.com/lb")
	was := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "was", Namespace: "default"},
		Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}}}}}
	objs := []runtime.Object{lb, classed, was, node("a", true, internal("10.0.0.1")), node("b", true, internal("10.0.0.2"))}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	lc := &Controller{client: client, services: f.Core().V1().Services().Lister(), nodes: f.Core().V1().Nodes().Lister(), queue: controllers.NewQueue("test")}
	defer lc.queue.ShutDown()
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			_ = f.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			_ = f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		}
	}
	ctx := context.Background()
	for _, k := range []string{"default/lb", "default/classed", "default/was", "default/gone"} {
		if err := lc.sync(ctx, k); err != nil {
			t.Fatalf("sync %s: %v", k, err)
		}
	}
	get := func(name string) *corev1.Service {
		s, err := client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := ips(get("lb").Status.LoadBalancer.Ingress); got != "[10.0.0.1 10.0.0.2]" {
		t.Errorf("lb: %s", got)
	}
	if n := len(get("classed").Status.LoadBalancer.Ingress); n != 0 {
		t.Errorf("a Service of another load balancer class got %d addresses", n)
	}
	if n := len(get("was").Status.LoadBalancer.Ingress); n != 0 {
		t.Errorf("a former LoadBalancer kept %d addresses", n)
	}
	// In sync: no write.
	_ = f.Core().V1().Services().Informer().GetIndexer().Update(get("lb"))
	client.ClearActions()
	if err := lc.sync(ctx, "default/lb"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d writes for a Service in sync", n)
	}
	// A node going NotReady leaves the status.
	_ = f.Core().V1().Nodes().Informer().GetIndexer().Update(node("b", false, internal("10.0.0.2")))
	if err := lc.sync(ctx, "default/lb"); err != nil {
		t.Fatal(err)
	}
	if got := ips(get("lb").Status.LoadBalancer.Ingress); got != "[10.0.0.1]" {
		t.Errorf("after node b went NotReady: %s", got)
	}
}
