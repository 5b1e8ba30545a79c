package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// Reasons, in upstream's words.
const (
	reasonNodeName        = "node(s) didn't match the requested node name"
	reasonUnschedulable   = "node(s) were unschedulable"
	reasonNodeAffinity    = "node(s) didn't match Pod's node affinity/selector"
	reasonNodePorts       = "node(s) didn't have free ports for the requested pod ports"
	reasonUntoleratedTain = "node(s) had untolerated taint {%s: %s}"
)

// nodeName passes only the node a pod already names (pods created with
// spec.nodeName never reach the scheduler; the plugin keeps upstream's set whole).
type nodeName struct{}

func (nodeName) Name() string { return "NodeName" }

func (nodeName) Filter(_ *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != n.Node.Name {
		return unresolvable(reasonNodeName)
	}
	return nil
}

// nodeUnschedulable keeps pods off cordoned nodes unless they tolerate the
// node.kubernetes.io/unschedulable taint.
type nodeUnschedulable struct{}

func (nodeUnschedulable) Name() string { return "NodeUnschedulable" }

var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

func (nodeUnschedulable) Filter(_ *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	if !n.Node.Spec.Unschedulable {
		return nil
	}
	if corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations, &unschedulableTaint, false) {
		return nil
	}
	return unresolvable(reasonUnschedulable)
}

// taintToleration keeps pods off nodes with NoSchedule or NoExecute taints they do
// not tolerate, and prefers nodes with fewer untolerated PreferNoSchedule taints.
type taintToleration struct{}

func (taintToleration) Name() string { return "TaintToleration" }

func scheduleTaints(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

func (taintToleration) Filter(_ *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	if len(n.Node.Spec.Taints) == 0 {
		return nil
	}
	taint, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Node.Spec.Taints, pod.Spec.Tolerations, scheduleTaints, false)
	if !untolerated {
		return nil
	}
	return unresolvable(fmt.Sprintf(reasonUntoleratedTain, taint.Key, taint.Value))
}

func (taintToleration) Score(_ *CycleState, pod *corev1.Pod, n *NodeInfo) int64 {
	var count int64
	for i := range n.Node.Spec.Taints {
		t := &n.Node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations, t, false) {
			count++
		}
	}
	return count
}

func (taintToleration) Normalize(_ *CycleState, _ []*NodeInfo, scores []int64) {
	normalizeScores(scores, true)
}

// nodeAffinity applies spec.nodeSelector and required node affinity as a filter and
// preferred node affinity as a score, through the component-helpers matchers.
type nodeAffinity struct{}

func (nodeAffinity) Name() string { return "NodeAffinity" }

type nodeAffinityState struct {
	required  nodeaffinity.RequiredNodeAffinity
	preferred *nodeaffinity.PreferredSchedulingTerms
	// none marks a pod with neither selector nor affinity, the common case.
	none bool
}

func (pl nodeAffinity) PreFilter(state *CycleState, pod *corev1.Pod, _ []*NodeInfo) *Status {
	s := &nodeAffinityState{required: nodeaffinity.GetRequiredNodeAffinity(pod)}
	a := pod.Spec.Affinity
	s.none = len(pod.Spec.NodeSelector) == 0 && (a == nil || a.NodeAffinity == nil)
	if a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		// Invalid terms are refused by validation; an error here leaves the
		// preference out rather than failing the pod.
		s.preferred, _ = nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	state.data[pl.Name()] = s
	return nil
}

func (pl nodeAffinity) Filter(state *CycleState, _ *corev1.Pod, n *NodeInfo) *Status {
	s := state.data[pl.Name()].(*nodeAffinityState)
	if s.none {
		return nil
	}
	if ok, _ := s.required.Match(n.Node); !ok {
		return unresolvable(reasonNodeAffinity)
	}
	return nil
}

func (pl nodeAffinity) Score(state *CycleState, _ *corev1.Pod, n *NodeInfo) int64 {
	s := state.data[pl.Name()].(*nodeAffinityState)
	if s.preferred == nil {
		return 0
	}
	return s.preferred.Score(n.Node)
}

func (nodeAffinity) Normalize(_ *CycleState, _ []*NodeInfo, scores []int64) {
	normalizeScores(scores, false)
}
