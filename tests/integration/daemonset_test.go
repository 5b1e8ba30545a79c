package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestDaemonSet drives the daemonset controller and the scheduler on a server with
// three simulated nodes: one pod per eligible node, a tainted node skipped until
// tolerated, a rolling update that replaces every pod, kubectl's rollout verbs, and
// a pod for a node added through the API.
func TestDaemonSet(t *testing.T) {
	s := schedServer(t)
	ns := schedNamespace(t, s.Client)
	c, ctx := s.Client, ctxT(t)

	taint := `{"spec":{"taints":[{"key":"dedicated","value":"db","effect":"NoSchedule"}]}}`
	if _, err := c.CoreV1().Nodes().Patch(ctx, "skiff-sim-2", types.StrategicMergePatchType, []byte(taint), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "pause"}}},
			},
		},
	}
	if _, err := c.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var firstHash string
	t.Run("OnePodPerEligibleNode", func(t *testing.T) {
		got := waitDaemonSet(t, c, ns, "agent", func(d *appsv1.DaemonSet) bool {
			st := d.Status
			return st.ObservedGeneration == d.Generation && st.DesiredNumberScheduled == 2 && st.CurrentNumberScheduled == 2 &&
				st.NumberReady == 2 && st.NumberAvailable == 2 && st.UpdatedNumberScheduled == 2 && st.NumberUnavailable == 0 && st.NumberMisscheduled == 0
		})
		pods := daemonPodsByNode(t, c, ns, got.UID)
		if nodes := podNodes(pods); nodes != "skiff-sim-0,skiff-sim-1" {
			t.Fatalf("daemon pods on %s, want skiff-sim-0,skiff-sim-1 (skiff-sim-2 is tainted)", nodes)
		}
		p := pods["skiff-sim-0"][0]
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != "skiff-sim-0" {
			t.Errorf("node affinity = %+v, want matchFields metadata.name In [skiff-sim-0]", terms)
		}
		tolerated := map[string]bool{}
		for _, tol := range p.Spec.Tolerations {
			tolerated[tol.Key+":"+string(tol.Effect)] = tol.Operator == corev1.TolerationOpExists
		}
		for _, want := range []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
			"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
			"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"} {
			if !tolerated[want] {
				t.Errorf("daemon pod does not tolerate %s: %+v", want, p.Spec.Tolerations)
			}
		}
		firstHash = p.Labels["controller-revision-hash"]
		if firstHash == "" {
			t.Errorf("labels = %v", p.Labels)
		}
		waitEvent(t, c, ns, "DaemonSet", "agent", "SuccessfulCreate", "Created pod: agent-")
	})

	t.Run("RolloutStatus", func(t *testing.T) {
		s.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
			mustContain(t, k.Run("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=2m"),
				`daemon set "agent" successfully rolled out`)
		})
	})

	t.Run("ToleratedTaintAndRollingUpdate", func(t *testing.T) {
		before := daemonPodsByNode(t, c, ns, "")
		// A toleration is a template change: the new node gets a pod and the
		// other two are replaced, one at a time (maxUnavailable 1).
		patch := `{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Equal","value":"db","effect":"NoSchedule"}]}}}}`
		if _, err := c.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		s.Kubectl(t, "rollout", "status", "daemonset/agent", "-n", ns, "--timeout=2m")
		got := waitDaemonSet(t, c, ns, "agent", func(d *appsv1.DaemonSet) bool {
			st := d.Status
			return st.ObservedGeneration == d.Generation && st.DesiredNumberScheduled == 3 && st.UpdatedNumberScheduled == 3 && st.NumberAvailable == 3
		})
		var after map[string][]*corev1.Pod
		eventually(t, stsTimeout, func() error {
			after = daemonPodsByNode(t, c, ns, got.UID)
			if nodes := podNodes(after); nodes != "skiff-sim-0,skiff-sim-1,skiff-sim-2" {
				return fmt.Errorf("daemon pods on %s", nodes)
			}
			for n, pods := range after {
				if len(pods) != 1 {
					return fmt.Errorf("%d pods on %s", len(pods), n)
				}
			}
			return nil
		})
		for n, pods := range after {
			p := pods[0]
			if p.Labels["controller-revision-hash"] == firstHash || len(p.Spec.Tolerations) == 6 {
				t.Errorf("pod %s on %s was not updated: %v", p.Name, n, p.Labels)
			}
			if old := before[n]; len(old) > 0 && old[0].UID == p.UID {
				t.Errorf("pod %s on %s was not replaced", p.Name, n)
			}
		}
		waitEvent(t, c, ns, "DaemonSet", "agent", "SuccessfulDelete", "Deleted pod: agent-")
		s.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
			out := k.Run("rollout", "history", "daemonset/agent", "-n", ns)
			if !regexpLine(out, "1", "") || !regexpLine(out, "2", "") {
				t.Errorf("rollout history:\n%s", out)
			}
		})
	})

	t.Run("RolloutUndo", func(t *testing.T) {
		mustContain(t, s.Kubectl(t, "rollout", "undo", "daemonset/agent", "-n", ns), "rolled back")
		s.Kubectl(t, "rollout", "status", "daemonset/agent", "-n", ns, "--timeout=2m")
		waitDaemonSet(t, c, ns, "agent", func(d *appsv1.DaemonSet) bool {
			st := d.Status
			return len(d.Spec.Template.Spec.Tolerations) == 0 && st.ObservedGeneration == d.Generation &&
				st.DesiredNumberScheduled == 2 && st.UpdatedNumberScheduled == 2 && st.NumberAvailable == 2 && st.NumberMisscheduled == 0
		})
		eventually(t, stsTimeout, func() error {
			pods := daemonPodsByNode(t, c, ns, "")
			if nodes := podNodes(pods); nodes != "skiff-sim-0,skiff-sim-1" {
				return fmt.Errorf("daemon pods on %s after undo", nodes)
			}
			for _, ps := range pods {
				if ps[0].Labels["controller-revision-hash"] != firstHash {
					return fmt.Errorf("pod %s at %s, want the first revision %s", ps[0].Name, ps[0].Labels["controller-revision-hash"], firstHash)
				}
			}
			return nil
		})
	})

	t.Run("NodeAdded", func(t *testing.T) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "added-node", Labels: map[string]string{"kubernetes.io/hostname": "added-node"}},
			Status: corev1.NodeStatus{
				Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}},
				Allocatable: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
				Capacity:    corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
			}}
		if _, err := c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer c.CoreV1().Nodes().Delete(context.Background(), "added-node", metav1.DeleteOptions{})
		// No kubelet runs it, so the pod is created and bound but never Ready.
		eventually(t, stsTimeout, func() error {
			pods := daemonPodsByNode(t, c, ns, "")
			if len(pods["added-node"]) != 1 {
				return fmt.Errorf("daemon pods on %s", podNodes(pods))
			}
			if p := pods["added-node"][0]; p.Spec.NodeName != "added-node" {
				return fmt.Errorf("pod %s not bound to added-node yet (nodeName %q)", p.Name, p.Spec.NodeName)
			}
			return nil
		})
		waitDaemonSet(t, c, ns, "agent", func(d *appsv1.DaemonSet) bool {
			return d.Status.DesiredNumberScheduled == 3 && d.Status.CurrentNumberScheduled == 3 && d.Status.NumberUnavailable == 1
		})
	})
}

func waitDaemonSet(t *testing.T, c kubernetes.Interface, ns, name string, ok func(*appsv1.DaemonSet) bool) *appsv1.DaemonSet {
	t.Helper()
	var got *appsv1.DaemonSet
	eventually(t, stsTimeout, func() error {
		d, err := c.AppsV1().DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !ok(d) {
			return fmt.Errorf("daemonset %s: generation %d status %+v", name, d.Generation, d.Status)
		}
		got = d
		return nil
	})
	return got
}

// daemonPodsByNode returns the live pods of the namespace (controlled by owner,
// when given) by the node they are bound to, or pinned to when not yet bound.
func daemonPodsByNode(t *testing.T, c kubernetes.Interface, ns string, owner types.UID) map[string][]*corev1.Pod {
	t.Helper()
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		if ref := metav1.GetControllerOf(p); owner != "" && (ref == nil || ref.UID != owner) {
			continue
		}
		node := p.Spec.NodeName
		if node == "" && p.Spec.Affinity != nil && p.Spec.Affinity.NodeAffinity != nil {
			if r := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; r != nil && len(r.NodeSelectorTerms) > 0 &&
				len(r.NodeSelectorTerms[0].MatchFields) > 0 {
				node = r.NodeSelectorTerms[0].MatchFields[0].Values[0]
			}
		}
		out[node] = append(out[node], p)
	}
	return out
}

func podNodes(m map[string][]*corev1.Pod) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}
