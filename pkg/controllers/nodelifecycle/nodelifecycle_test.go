package nodelifecycle

import (
	"context"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	nodeutil "k8s.io/component-helpers/node/util"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

func readyNode(name string, at metav1.Time) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at,
		Labels: map[string]string{corev1.LabelOSStable: "linux"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: at, LastTransitionTime: at},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: at, LastTransitionTime: at},
		}}}
}

func lease(name string, at time.Time) *coordv1.Lease {
	t := metav1.NewMicroTime(at)
	return &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordv1.LeaseSpec{RenewTime: &t}}
}

func TestStaleNodeBecomesUnknownAndTainted(t *testing.T) {
	start := metav1.Now()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "lost"},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	client := fake.NewSimpleClientset(readyNode("lost", start), readyNode("alive", start),
		lease("lost", start.Time), lease("alive", start.Time), pod)
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0), Broadcaster: record.NewBroadcaster()}
	nc, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Informers.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), nc.synced...)
	now := start
	nc.now = func() metav1.Time { return now }

	nc.monitorNodeHealth(ctx) // first sight: heartbeats counted from now
	now = metav1.NewTime(start.Add(NodeMonitorGracePeriod + time.Second))
	// alive renews its lease; lost does not.
	if _, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, lease("alive", now.Time), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		l, _ := nc.leases.Leases(corev1.NamespaceNodeLease).Get("alive")
		return l != nil && l.Spec.RenewTime.Equal(&metav1.MicroTime{Time: now.Time})
	})
	nc.monitorNodeHealth(ctx)

	lost, _ := client.CoreV1().Nodes().Get(ctx, "lost", metav1.GetOptions{})
	for _, ct := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		_, cond := nodeutil.GetNodeCondition(&lost.Status, ct)
		if cond == nil || cond.Status != corev1.ConditionUnknown {
			t.Fatalf("%s of lost: %+v", ct, cond)
		}
	}
	_, ready := nodeutil.GetNodeCondition(&lost.Status, corev1.NodeReady)
	if ready.Reason != "NodeStatusUnknown" || ready.Message != "Kubelet stopped posting node status." {
		t.Fatalf("Ready of lost: %+v", ready)
	}
	if !hasTaint(lost.Spec.Taints, unreachableTaint) || lost.Spec.Taints[0].TimeAdded == nil {
		t.Fatalf("lost taints: %+v", lost.Spec.Taints)
	}
	alive, _ := client.CoreV1().Nodes().Get(ctx, "alive", metav1.GetOptions{})
	if _, r := nodeutil.GetNodeCondition(&alive.Status, corev1.NodeReady); r.Status != corev1.ConditionTrue || len(alive.Spec.Taints) != 0 {
		t.Fatalf("alive changed: %+v %+v", r, alive.Spec.Taints)
	}
	p, _ := client.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{})
	if p.Status.Conditions[0].Status != corev1.ConditionFalse {
		t.Fatalf("pod on lost node still ready: %+v", p.Status.Conditions)
	}

	// NoSchedule: the unreachable mirror, and cordon.
	waitFor(t, func() bool {
		n, _ := nc.nodes.Get("lost")
		_, r := nodeutil.GetNodeCondition(&n.Status, corev1.NodeReady)
		return r.Status == corev1.ConditionUnknown && len(n.Spec.Taints) == 1
	})
	if err := nc.syncNode(ctx, "lost"); err != nil {
		t.Fatal(err)
	}
	lost, _ = client.CoreV1().Nodes().Get(ctx, "lost", metav1.GetOptions{})
	if !hasTaint(lost.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}) ||
		lost.Labels["beta.kubernetes.io/os"] != "linux" {
		t.Fatalf("lost after the NoSchedule pass: %+v %v", lost.Spec.Taints, lost.Labels)
	}
	alive.Spec.Unschedulable = true
	if _, err := client.CoreV1().Nodes().Update(ctx, alive, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { n, _ := nc.nodes.Get("alive"); return n.Spec.Unschedulable })
	if err := nc.syncNode(ctx, "alive"); err != nil {
		t.Fatal(err)
	}
	alive, _ = client.CoreV1().Nodes().Get(ctx, "alive", metav1.GetOptions{})
	if !hasTaint(alive.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		t.Fatalf("cordoned node taints: %+v", alive.Spec.Taints)
	}
}

func TestFullDisruptionAddsNoExecuteTaint(t *testing.T) {
	start := metav1.Now()
	client := fake.NewSimpleClientset(readyNode("only", start), lease("only", start.Time))
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0), Broadcaster: record.NewBroadcaster()}
	nc, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Informers.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), nc.synced...)
	now := start
	nc.now = func() metav1.Time { return now }
	nc.monitorNodeHealth(ctx)
	now = metav1.NewTime(start.Add(NodeMonitorGracePeriod + time.Second))
	nc.monitorNodeHealth(ctx)
	n, _ := client.CoreV1().Nodes().Get(ctx, "only", metav1.GetOptions{})
	if _, r := nodeutil.GetNodeCondition(&n.Status, corev1.NodeReady); r.Status != corev1.ConditionUnknown {
		t.Fatalf("Ready: %+v", r)
	}
	if hasTaint(n.Spec.Taints, unreachableTaint) {
		t.Fatal("the only node got a NoExecute taint although no node at all is ready")
	}
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if f() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("informer did not catch up")
}
