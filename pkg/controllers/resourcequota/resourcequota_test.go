package resourcequota

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// A usage written from a pod lister that lagged is corrected when the pod
// arrives, though the quota informer still shows the charged status the low write
// replaced. The informers are not started: the test moves their caches by hand.
func TestLowUsageCorrectedBeforeInformerSeesIt(t *testing.T) {
	charged := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns", ResourceVersion: "5"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}},
		// The admission plugin charged the pod being created.
		Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")},
			Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}}}
	client := fake.NewClientset(charged)
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, _, err := newController(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.queue.ShutDown()
	core := c.Informers.Core().V1()
	if err := core.ResourceQuotas().Informer().GetIndexer().Add(charged.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	used := func() int64 {
		q, err := client.CoreV1().ResourceQuotas("ns").Get(ctx, "q", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u := q.Status.Used[corev1.ResourcePods]
		return u.Value()
	}

	// The pod lister does not have the pod yet: the sync writes 0.
	if err := rc.sync(ctx, "ns/q"); err != nil {
		t.Fatal(err)
	}
	if n := used(); n != 0 {
		t.Fatalf("used pods %d after a sync that saw no pod, want 0", n)
	}
	// The pod arrives; the quota informer still shows version 5 (used 1).
	if err := core.Pods().Informer().GetIndexer().Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}); err != nil {
		t.Fatal(err)
	}
	if err := rc.sync(ctx, "ns/q"); err != nil {
		t.Fatal(err)
	}
	if n := used(); n != 1 {
		t.Fatalf("used pods %d once the pod is listed, want 1", n)
	}

	// Once the informer shows a newer version, its status is the one compared with.
	newer, err := client.CoreV1().ResourceQuotas("ns").Get(ctx, "q", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newer.ResourceVersion = "7"
	if err := core.ResourceQuotas().Informer().GetIndexer().Update(newer); err != nil {
		t.Fatal(err)
	}
	before := len(client.Actions())
	if err := rc.sync(ctx, "ns/q"); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions()[before:] {
		if a.GetVerb() == "update" {
			t.Errorf("a sync with nothing changed wrote the status: %v", a)
		}
	}
	if _, ok := rc.written["ns/q"]; ok {
		t.Error("the write is still remembered after the informer caught up with it")
	}
}
