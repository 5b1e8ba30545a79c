package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/types"
)

// schedServer is a server with three simulated nodes, shared by the scheduler
// tests of one run; each test works in a namespace of its own.
func schedServer(t *testing.T) *framework.Server {
	t.Helper()
	s := framework.Start(t, "--sim-nodes=3")
	ctx := ctxT(t)
	eventually(t, time.Minute, func() error {
		nodes, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(nodes.Items) != 3 {
			return fmt.Errorf("%d nodes registered", len(nodes.Items))
		}
		return nil
	})
	return s
}

func schedNamespace(t *testing.T, c kubernetes.Interface) string {
	t.Helper()
	name := fmt.Sprintf("sched-%d", time.Now().UnixNano())
	eventually(t, time.Minute, func() error {
		_, err := c.CoreV1().Namespaces().Create(ctxT(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	})
	// Pods need the namespace's default service account, which a controller makes.
	eventually(t, time.Minute, func() error {
		_, err := c.CoreV1().ServiceAccounts(name).Get(ctxT(t), "default", metav1.GetOptions{})
		return err
	})
	return name
}

func schedPod(name string, cpu string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause"}}},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	return p
}

func schedCreate(t *testing.T, c kubernetes.Interface, ns string, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := c.CoreV1().Pods(ns).Create(ctxT(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return got
}

// waitScheduled waits for the pod to be bound and returns its node.
func schedWaitBound(t *testing.T, c kubernetes.Interface, ns, name string) string {
	t.Helper()
	var node string
	eventually(t, time.Minute, func() error {
		p, err := c.CoreV1().Pods(ns).Get(ctxT(t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.NodeName == "" {
			return fmt.Errorf("pod %s not bound: %+v", name, p.Status.Conditions)
		}
		node = p.Spec.NodeName
		return nil
	})
	return node
}

// waitUnschedulable waits for PodScheduled=False/Unschedulable with a message
// containing every want, and returns the message.
func schedWaitUnschedulable(t *testing.T, c kubernetes.Interface, ns, name string, want ...string) string {
	t.Helper()
	var msg string
	eventually(t, time.Minute, func() error {
		p, err := c.CoreV1().Pods(ns).Get(ctxT(t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.NodeName != "" {
			return fmt.Errorf("pod %s bound to %s", name, p.Spec.NodeName)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type != corev1.PodScheduled {
				continue
			}
			if cond.Status != corev1.ConditionFalse || cond.Reason != corev1.PodReasonUnschedulable {
				return fmt.Errorf("condition %+v", cond)
			}
			for _, w := range want {
				if !strings.Contains(cond.Message, w) {
					return fmt.Errorf("message %q lacks %q", cond.Message, w)
				}
			}
			msg = cond.Message
			return nil
		}
		return fmt.Errorf("no PodScheduled condition: %+v", p.Status.Conditions)
	})
	return msg
}

// podEvents lists the events of one pod with the given reason.
func schedEvents(ctx context.Context, c kubernetes.Interface, ns, name, reason string) ([]corev1.Event, error) {
	evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
		"involvedObject.name": name, "reason": reason}.String()})
	if err != nil {
		return nil, err
	}
	return evs.Items, nil
}

// TestScheduler drives the scheduler on three simulated nodes (skiff-sim-0..2, 32
// CPUs each). The subtests run in order on one server and undo what they change
// on the nodes.
func TestScheduler(t *testing.T) {
	s := schedServer(t)
	c := s.Client
	ns := schedNamespace(t, c)

	t.Run("binds with a Scheduled event", func(t *testing.T) {
		ctx := ctxT(t)
		schedCreate(t, c, ns, schedPod("plain", "100m"))
		node := schedWaitBound(t, c, ns, "plain")
		if !strings.HasPrefix(node, "skiff-sim-") {
			t.Fatalf("bound to %q", node)
		}
		schedWaitEvent(t, c, ns, "plain", "Scheduled", corev1.EventTypeNormal, fmt.Sprintf("Successfully assigned %s/plain to %s", ns, node))
		p, err := c.CoreV1().Pods(ns).Get(ctx, "plain", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !schedHasCondition(p, corev1.PodScheduled, corev1.ConditionTrue, "") {
			t.Fatalf("conditions %+v", p.Status.Conditions)
		}
	})

	t.Run("insufficient cpu", func(t *testing.T) {
		schedCreate(t, c, ns, schedPod("huge", "64"))
		msg := schedWaitUnschedulable(t, c, ns, "huge", "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.")
		schedWaitEvent(t, c, ns, "huge", "FailedScheduling", corev1.EventTypeWarning, msg)
		schedDelete(t, c, ns, "huge")
	})

	t.Run("node selector and affinity", func(t *testing.T) {
		p := schedPod("selected", "")
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "skiff-sim-1"}
		schedCreate(t, c, ns, p)
		if node := schedWaitBound(t, c, ns, "selected"); node != "skiff-sim-1" {
			t.Fatalf("nodeSelector pod on %s", node)
		}
		p = schedPod("affine", "")
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"skiff-sim-0", "skiff-sim-1"}}}}}}}}
		schedCreate(t, c, ns, p)
		if node := schedWaitBound(t, c, ns, "affine"); node != "skiff-sim-2" {
			t.Fatalf("affinity pod on %s", node)
		}
		p = schedPod("nowhere", "")
		p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		schedCreate(t, c, ns, p)
		schedWaitUnschedulable(t, c, ns, "nowhere", "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
		schedDelete(t, c, ns, "nowhere")
	})

	t.Run("taints and tolerations", func(t *testing.T) {
		taint := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
		schedSetTaints(t, c, "skiff-sim-0", taint)
		schedSetTaints(t, c, "skiff-sim-1", taint)
		defer schedSetTaints(t, c, "skiff-sim-0")
		defer schedSetTaints(t, c, "skiff-sim-1")
		schedCreate(t, c, ns, schedPod("untolerating", "64"))
		schedWaitUnschedulable(t, c, ns, "untolerating", "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: db}. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.")
		schedDelete(t, c, ns, "untolerating")
		for i := 0; i < 3; i++ {
			schedCreate(t, c, ns, schedPod(fmt.Sprintf("small-%d", i), "100m"))
			if node := schedWaitBound(t, c, ns, fmt.Sprintf("small-%d", i)); node != "skiff-sim-2" {
				t.Fatalf("untolerating pod on tainted %s", node)
			}
		}
		p := schedPod("tolerating", "")
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "skiff-sim-0"}
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		schedCreate(t, c, ns, p)
		if node := schedWaitBound(t, c, ns, "tolerating"); node != "skiff-sim-0" {
			t.Fatalf("tolerating pod on %s", node)
		}
	})

	t.Run("host port conflict", func(t *testing.T) {
		withPort := func(name string) *corev1.Pod {
			p := schedPod(name, "")
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "skiff-sim-1"}
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
			return p
		}
		schedCreate(t, c, ns, withPort("port-a"))
		schedWaitBound(t, c, ns, "port-a")
		schedCreate(t, c, ns, withPort("port-b"))
		schedWaitUnschedulable(t, c, ns, "port-b", "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 2 node(s) didn't match Pod's node affinity/selector.")
		// Freeing the port lets the waiting pod in.
		schedDelete(t, c, ns, "port-a")
		if node := schedWaitBound(t, c, ns, "port-b"); node != "skiff-sim-1" {
			t.Fatalf("port-b on %s", node)
		}
	})

	t.Run("topology spread", func(t *testing.T) {
		for i := 0; i < 6; i++ {
			p := schedPod(fmt.Sprintf("spread-%d", i), "")
			p.Labels = map[string]string{"app": "spread"}
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}}}}
			schedCreate(t, c, ns, p)
		}
		perNode := map[string]int{}
		for i := 0; i < 6; i++ {
			perNode[schedWaitBound(t, c, ns, fmt.Sprintf("spread-%d", i))]++
		}
		for node, n := range perNode {
			if n != 2 {
				t.Fatalf("spread %v: %s has %d", perNode, node, n)
			}
		}
	})

	t.Run("pod affinity and anti-affinity", func(t *testing.T) {
		anti := func(name string) *corev1.Pod {
			p := schedPod(name, "")
			p.Labels = map[string]string{"app": "anti", "name": name}
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "anti"}}}}}}
			return p
		}
		nodes := map[string]string{}
		for i := 0; i < 3; i++ {
			name := fmt.Sprintf("anti-%d", i)
			schedCreate(t, c, ns, anti(name))
			node := schedWaitBound(t, c, ns, name)
			if other, dup := nodes[node]; dup {
				t.Fatalf("%s and %s both on %s", name, other, node)
			}
			nodes[node] = name
		}
		// The existing pods' rules are checked first, as upstream does.
		schedCreate(t, c, ns, anti("anti-3"))
		schedWaitUnschedulable(t, c, ns, "anti-3", "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.")
		// A pod without anti-affinity of its own is kept off by the others' rules.
		p := schedPod("anti-victim", "")
		p.Labels = map[string]string{"app": "anti"}
		schedCreate(t, c, ns, p)
		schedWaitUnschedulable(t, c, ns, "anti-victim", "3 node(s) didn't satisfy existing pods anti-affinity rules")
		schedDelete(t, c, ns, "anti-victim")
		// A pod the others' rules do not cover is kept off by its own.
		p = anti("loner")
		p.Labels = map[string]string{"app": "loner"}
		schedCreate(t, c, ns, p)
		schedWaitUnschedulable(t, c, ns, "loner", "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")
		schedDelete(t, c, ns, "loner")

		p = schedPod("friend", "")
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "anti-1"}}}}}}
		schedCreate(t, c, ns, p)
		want := ""
		for node, name := range nodes {
			if name == "anti-1" {
				want = node
			}
		}
		if node := schedWaitBound(t, c, ns, "friend"); node != want {
			t.Fatalf("friend on %s, anti-1 on %s", node, want)
		}
		// anti-3 fits once one of the others goes.
		schedDelete(t, c, ns, "anti-0")
		schedWaitBound(t, c, ns, "anti-3")
	})

	t.Run("scheduling gates", func(t *testing.T) {
		ctx := ctxT(t)
		p := schedPod("gated", "")
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		schedCreate(t, c, ns, p)
		// A pod created after the gated one is scheduled; the gated one still waits.
		schedCreate(t, c, ns, schedPod("after-gated", ""))
		schedWaitBound(t, c, ns, "after-gated")
		got, err := c.CoreV1().Pods(ns).Get(ctx, "gated", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.NodeName != "" || !schedHasCondition(got, corev1.PodScheduled, corev1.ConditionFalse, corev1.PodReasonSchedulingGated) {
			t.Fatalf("gated pod: node %q, conditions %+v", got.Spec.NodeName, got.Status.Conditions)
		}
		patch := []byte(`{"spec":{"schedulingGates":null}}`)
		if _, err := c.CoreV1().Pods(ns).Patch(ctx, "gated", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		schedWaitBound(t, c, ns, "gated")
	})

	t.Run("other scheduler name ignored", func(t *testing.T) {
		ctx := ctxT(t)
		p := schedPod("foreign", "")
		p.Spec.SchedulerName = "other-scheduler"
		schedCreate(t, c, ns, p)
		schedCreate(t, c, ns, schedPod("after-foreign", ""))
		schedWaitBound(t, c, ns, "after-foreign")
		got, err := c.CoreV1().Pods(ns).Get(ctx, "foreign", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.NodeName != "" || len(got.Status.Conditions) != 0 {
			t.Fatalf("foreign pod touched: node %q, conditions %+v", got.Spec.NodeName, got.Status.Conditions)
		}
		if evs, err := schedEvents(ctx, c, ns, "foreign", "FailedScheduling"); err != nil || len(evs) != 0 {
			t.Fatalf("events for foreign pod: %v %+v", err, evs)
		}
	})

	t.Run("preemption", func(t *testing.T) {
		ctx := ctxT(t)
		prio := map[string]int32{"sched-low": 10, "sched-high": 1000, "sched-never": 1000}
		for name, value := range prio {
			pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
			if name == "sched-never" {
				pc.PreemptionPolicy = schedPtr(corev1.PreemptNever)
			}
			if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			defer c.SchedulingV1().PriorityClasses().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
		pinned := func(name, class string) *corev1.Pod {
			p := schedPod(name, "20")
			p.Spec.PriorityClassName = class // the Priority admission plugin sets spec.priority
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "skiff-sim-2"}
			return p
		}
		schedCreate(t, c, ns, pinned("low", "sched-low"))
		schedWaitBound(t, c, ns, "low")
		never := pinned("never", "sched-never")
		schedCreate(t, c, ns, never)
		schedWaitUnschedulable(t, c, ns, "never", "1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. preemption: not eligible due to preemptionPolicy=Never.")
		schedDelete(t, c, ns, "never")

		low, err := c.CoreV1().Pods(ns).Get(ctx, "low", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		schedCreate(t, c, ns, pinned("high", "sched-high"))
		if node := schedWaitBound(t, c, ns, "high"); node != "skiff-sim-2" {
			t.Fatalf("high on %s", node)
		}
		eventually(t, time.Minute, func() error {
			p, err := c.CoreV1().Pods(ns).Get(ctx, "low", metav1.GetOptions{})
			if err == nil && p.UID == low.UID {
				return fmt.Errorf("victim still there (deleting: %v)", p.DeletionTimestamp != nil)
			}
			return nil
		})
		schedWaitEvent(t, c, ns, "low", "Preempted", corev1.EventTypeNormal, fmt.Sprintf("Preempted by pod %s on node skiff-sim-2", schedUID(t, c, ns, "high")))
		high, err := c.CoreV1().Pods(ns).Get(ctx, "high", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if high.Status.NominatedNodeName != "skiff-sim-2" {
			t.Fatalf("nominatedNodeName %q", high.Status.NominatedNodeName)
		}
		schedDelete(t, c, ns, "high")
	})

	t.Run("retried when a node appears", func(t *testing.T) {
		ctx := ctxT(t)
		p := schedPod("waits-for-node", "")
		p.Spec.NodeSelector = map[string]string{"pool": "late"}
		schedCreate(t, c, ns, p)
		schedWaitUnschedulable(t, c, ns, "waits-for-node", "didn't match Pod's node affinity/selector")
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "late-node", Labels: map[string]string{"pool": "late", "kubernetes.io/hostname": "late-node"}},
			Status: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
			},
		}
		if _, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer c.CoreV1().Nodes().Delete(context.Background(), "late-node", metav1.DeleteOptions{})
		if got := schedWaitBound(t, c, ns, "waits-for-node"); got != "late-node" {
			t.Fatalf("bound to %s", got)
		}
	})
}

func schedPtr[T any](v T) *T { return &v }

func schedHasCondition(p *corev1.Pod, typ corev1.PodConditionType, status corev1.ConditionStatus, reason string) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == typ && c.Status == status && (reason == "" || c.Reason == reason) {
			return true
		}
	}
	return false
}

func schedDelete(t *testing.T, c kubernetes.Interface, ns, name string) {
	t.Helper()
	if err := c.CoreV1().Pods(ns).Delete(ctxT(t), name, metav1.DeleteOptions{GracePeriodSeconds: schedPtr(int64(0))}); err != nil {
		t.Fatalf("delete pod %s: %v", name, err)
	}
	eventually(t, time.Minute, func() error {
		if _, err := c.CoreV1().Pods(ns).Get(ctxT(t), name, metav1.GetOptions{}); err == nil {
			return fmt.Errorf("pod %s still there", name)
		}
		return nil
	})
}

func schedUID(t *testing.T, c kubernetes.Interface, ns, name string) types.UID {
	t.Helper()
	p, err := c.CoreV1().Pods(ns).Get(ctxT(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.UID
}

// setTaints replaces a node's taints.
func schedSetTaints(t *testing.T, c kubernetes.Interface, node string, taints ...corev1.Taint) {
	t.Helper()
	eventually(t, time.Minute, func() error {
		n, err := c.CoreV1().Nodes().Get(ctxT(t), node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.Taints = taints
		_, err = c.CoreV1().Nodes().Update(ctxT(t), n, metav1.UpdateOptions{})
		return err
	})
}

func schedWaitEvent(t *testing.T, c kubernetes.Interface, ns, pod, reason, typ, msg string) {
	t.Helper()
	eventually(t, time.Minute, func() error {
		evs, err := schedEvents(ctxT(t), c, ns, pod, reason)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Message == msg && e.Type == typ && e.Source.Component == "default-scheduler" {
				return nil
			}
		}
		return fmt.Errorf("no %s event %q for %s in %+v", reason, msg, pod, evs)
	})
}
