package scheduler

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// Code says how a plugin judged a pod.
type Code int

const (
	// Success: the pod passes.
	Success Code = iota
	// Unschedulable: the pod does not fit now, but evicting pods could make it fit.
	Unschedulable
	// UnschedulableAndUnresolvable: no preemption on this node would help.
	UnschedulableAndUnresolvable
	// Error: the plugin failed; the pod is retried.
	Error
)

// Status is a plugin's verdict with the reasons shown to users, in upstream's words
// ("Insufficient cpu", "node(s) didn't match Pod's node affinity/selector").
type Status struct {
	Code    Code
	Reasons []string
	// Plugin names the plugin that failed the pod.
	Plugin string
}

// IsSuccess reports whether s is nil or a success.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

func unschedulable(reasons ...string) *Status {
	return &Status{Code: Unschedulable, Reasons: reasons}
}

func unresolvable(reasons ...string) *Status {
	return &Status{Code: UnschedulableAndUnresolvable, Reasons: reasons}
}

// CycleState carries what PreFilter computed about the pod to the later steps of
// the same cycle; each plugin keys it by its own name.
type CycleState struct {
	pod  *corev1.Pod
	req  *PodInfo
	data map[string]any
	// nodes are all the nodes of the cycle, for plugins that count over the
	// whole cluster while scoring.
	nodes []*NodeInfo
}

func newCycleState(pod *corev1.Pod) *CycleState {
	return &CycleState{pod: pod, req: newPodInfo(pod), data: map[string]any{}}
}

// Plugin is one scheduling rule.
type Plugin interface {
	Name() string
}

// PreFilterPlugin computes per-pod state once per cycle (and may reject the pod
// outright, for example for a missing PersistentVolumeClaim). It returns nil to
// pass. Plugins that have nothing to do for the pod may store a marker so Filter
// returns at once.
type PreFilterPlugin interface {
	Plugin
	PreFilter(state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) *Status
}

// FilterPlugin says whether the pod may run on one node. It must be cheap: it runs
// for many nodes per pod.
type FilterPlugin interface {
	Plugin
	Filter(state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status
}

// PreScorePlugin computes per-pod state for Score over the feasible nodes.
type PreScorePlugin interface {
	Plugin
	PreScore(state *CycleState, pod *corev1.Pod, feasible []*NodeInfo)
}

// ScorePlugin ranks a feasible node. Scores of a plugin are normalized to 0..100
// (by Normalize when the plugin has one) and multiplied by its weight.
type ScorePlugin interface {
	Plugin
	Score(state *CycleState, pod *corev1.Pod, node *NodeInfo) int64
}

// ScoreNormalizer rescales a plugin's raw scores of the nodes to 0..MaxNodeScore.
type ScoreNormalizer interface {
	Normalize(state *CycleState, nodes []*NodeInfo, scores []int64)
}

// MaxNodeScore is the highest score a plugin gives a node.
const MaxNodeScore int64 = 100

// weightedScorer is a score plugin with its weight in the profile.
type weightedScorer struct {
	ScorePlugin
	weight int64
}

// PreBindPlugin prepares what the pod needs on the chosen node before the binding
// is written (volumes); an error fails this attempt and the pod is retried.
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, pod *corev1.Pod, node string) error
}

// preFilterExtension is a PreFilter plugin whose cycle state counts pods:
// preemption tells it about pods it evicts (delta -1) and puts back (+1) so that its
// Filter judges the node as it would be. clone copies the state for one node's
// simulation.
type preFilterExtension interface {
	Plugin
	updatePod(state *CycleState, pod *corev1.Pod, victim *PodInfo, n *NodeInfo, delta int)
}

type clonable interface{ clone() any }

// clone copies the cycle state; plugin states that preemption changes are copied
// deeply.
func (s *CycleState) clone() *CycleState {
	c := *s
	c.data = make(map[string]any, len(s.data))
	for k, v := range s.data {
		if cl, ok := v.(clonable); ok {
			v = cl.clone()
		}
		c.data[k] = v
	}
	return &c
}

// Profile is the ordered plugin set of one scheduler name.
type Profile struct {
	PreFilters []PreFilterPlugin
	Filters    []FilterPlugin
	PreScores  []PreScorePlugin
	Scores     []weightedScorer
	PreBinds   []PreBindPlugin
	Extensions []preFilterExtension
}

// normalizeScores maps scores linearly onto 0..MaxNodeScore, the highest raw score
// becoming MaxNodeScore; reverse flips them so that the lowest raw score wins
// (upstream's DefaultNormalizeScore).
func normalizeScores(scores []int64, reverse bool) {
	var max int64
	for _, s := range scores {
		if s > max {
			max = s
		}
	}
	if max == 0 {
		if reverse {
			for i := range scores {
				scores[i] = MaxNodeScore
			}
		}
		return
	}
	for i, s := range scores {
		s = MaxNodeScore * s / max
		if reverse {
			s = MaxNodeScore - s
		}
		scores[i] = s
	}
}
