package tainteviction

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

func TestMinTolerationTime(t *testing.T) {
	secs := func(s int64) corev1.Toleration { return corev1.Toleration{TolerationSeconds: ptr.To(s)} }
	for _, tc := range []struct {
		in   []corev1.Toleration
		want time.Duration
	}{
		{nil, 0},
		{[]corev1.Toleration{{}}, -1},
		{[]corev1.Toleration{{}, secs(30), secs(10)}, 10 * time.Second},
		{[]corev1.Toleration{secs(-5)}, 0},
	} {
		if got := minTolerationTime(tc.in); got != tc.want {
			t.Errorf("%v: got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestEviction(t *testing.T) {
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{unreachable}}}
	pod := func(name string, tol ...corev1.Toleration) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "uid-" + types.UID(name)},
			Spec: corev1.PodSpec{NodeName: "n", Tolerations: tol}}
	}
	forever := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}
	brief := forever
	brief.TolerationSeconds = ptr.To(int64(1))
	client := fake.NewSimpleClientset(node, pod("none"), pod("forever", forever), pod("brief", brief))
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0), Broadcaster: record.NewBroadcaster()}
	tc, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Informers.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), tc.synced...)
	now := time.Now()
	tc.now = func() time.Time { return now }

	for _, name := range []string{"none", "forever", "brief"} {
		if err := tc.sync(ctx, "ns/"+name); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(name string) bool {
		_, err := client.CoreV1().Pods("ns").Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	if !gone("none") || gone("forever") || gone("brief") {
		t.Fatalf("after the first pass: none gone=%v forever gone=%v brief gone=%v", gone("none"), gone("forever"), gone("brief"))
	}
	if _, ok := tc.scheduled["ns/brief"]; !ok {
		t.Fatal("brief's eviction not scheduled")
	}
	now = now.Add(time.Second)
	if err := tc.sync(ctx, "ns/brief"); err != nil {
		t.Fatal(err)
	}
	if !gone("brief") {
		t.Fatal("brief not evicted after its tolerationSeconds")
	}
	var sawCondition bool
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			p := a.(k8stesting.UpdateAction).GetObject().(*corev1.Pod)
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.DisruptionTarget && c.Reason == "DeletionByTaintManager" {
					sawCondition = true
				}
			}
		}
	}
	if !sawCondition {
		t.Fatal("no DisruptionTarget condition written before the delete")
	}
}
