package scheduler

import (
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

// ScoreNormalizer rescales a plugin's raw scores to 0..MaxNodeScore.
type ScoreNormalizer interface {
	Normalize(state *CycleState, scores []int64)
}

// MaxNodeScore is the highest score a plugin gives a node.
const MaxNodeScore int64 = 100

// weightedScorer is a score plugin with its weight in the profile.
type weightedScorer struct {
	ScorePlugin
	weight int64
}

// Profile is the ordered plugin set of one scheduler name.
type Profile struct {
	PreFilters []PreFilterPlugin
	Filters    []FilterPlugin
	PreScores  []PreScorePlugin
	Scores     []weightedScorer
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
