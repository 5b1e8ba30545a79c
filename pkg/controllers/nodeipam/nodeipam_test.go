package nodeipam

import (
	"context"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCIDRSet(t *testing.T) {
	s, err := newCIDRSet(mustCIDR(t, "10.42.0.0/22"), 24)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.occupy(mustCIDR(t, "10.42.1.0/24")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 3; i++ {
		c, err := s.allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c.String())
	}
	want := []string{"10.42.0.0/24", "10.42.2.0/24", "10.42.3.0/24"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allocated %v, want %v", got, want)
		}
	}
	if _, err := s.allocate(); err != errCIDRRangeNoCIDRsRemaining {
		t.Fatalf("full set: %v", err)
	}
	if err := s.release(mustCIDR(t, "10.42.2.0/24")); err != nil {
		t.Fatal(err)
	}
	if c, err := s.allocate(); err != nil || c.String() != "10.42.2.0/24" {
		t.Fatalf("after release: %v %v", c, err)
	}
	if err := s.occupy(mustCIDR(t, "10.43.0.0/24")); err == nil {
		t.Fatal("occupied a CIDR outside the cluster CIDR")
	}
	if _, err := newCIDRSet(mustCIDR(t, "10.0.0.0/8"), 30); err == nil {
		t.Fatal("accepted a node mask 22 bits longer than the cluster's")
	}
	v6, err := newCIDRSet(mustCIDR(t, "fd00:42::/56"), 64)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v6.allocate(); err != nil || c.String() != "fd00:42::/64" {
		t.Fatalf("v6: %v %v", c, err)
	}
}

func TestAllocatorKeepsExistingAndAssignsDistinct(t *testing.T) {
	node := func(name, cidr string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if cidr != "" {
			n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
		}
		return n
	}
	client := fake.NewSimpleClientset(node("a", "10.42.0.0/24"), node("b", ""), node("c", ""))
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0),
		Broadcaster: record.NewBroadcaster(), Config: controllers.Config{ClusterCIDR: mustCIDR(t, "10.42.0.0/16"), NodeCIDRMaskSize: 24}}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); c.Wait() }()
	if err := Start(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Informers.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), c.Informers.Core().V1().Nodes().Informer().HasSynced)

	deadline := time.Now().Add(10 * time.Second)
	for {
		seen := map[string]string{}
		done := true
		for _, name := range []string{"a", "b", "c"} {
			n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n.Spec.PodCIDR == "" {
				done = false
				continue
			}
			if other, dup := seen[n.Spec.PodCIDR]; dup {
				t.Fatalf("nodes %s and %s share %s", other, name, n.Spec.PodCIDR)
			}
			seen[n.Spec.PodCIDR] = name
		}
		if done {
			if seen["10.42.0.0/24"] != "a" {
				t.Fatalf("node a lost its podCIDR: %v", seen)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all nodes got a podCIDR: %v", seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAllocatorReportsCIDRNotAvailable(t *testing.T) {
	client := fake.NewSimpleClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}})
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0),
		Broadcaster: record.NewBroadcaster(), Config: controllers.Config{ClusterCIDR: mustCIDR(t, "10.42.0.0/24"), NodeCIDRMaskSize: 24}}
	events := make(chan *corev1.Event, 10)
	w := c.Broadcaster.StartEventWatcher(func(e *corev1.Event) { events <- e })
	defer w.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); c.Wait() }()
	if err := Start(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Informers.Start(ctx.Done())
	select {
	case e := <-events:
		if e.Reason != "CIDRNotAvailable" || e.Source.Component != "cidrAllocator" || e.InvolvedObject.Kind != "Node" {
			t.Fatalf("event: %s %s %+v", e.Reason, e.Message, e.InvolvedObject)
		}
		if want := "Node " + e.InvolvedObject.Name + " status is now: CIDRNotAvailable"; e.Message != want {
			t.Fatalf("message %q, want %q", e.Message, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no CIDRNotAvailable event with one /24 for two nodes")
	}
}
