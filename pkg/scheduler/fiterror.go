package scheduler

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// noNodesAvailable is upstream's message when the cluster has no nodes at all.
const noNodesAvailable = "no nodes available to schedule pods"

// FitError says why no node fits a pod, in upstream's format:
//
//	0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {key: value}. preemption: ...
type FitError struct {
	Pod         *corev1.Pod
	NumAllNodes int
	// PreFilter is set when a PreFilter plugin rejected the pod for every node.
	PreFilter *Status
	// NodeStatus holds each node's first failing filter.
	NodeStatus map[string]*Status
	// PostFilterMsg is what preemption found.
	PostFilterMsg string
}

func (f *FitError) Error() string {
	if f.NumAllNodes == 0 {
		return noNodesAvailable
	}
	msg := fmt.Sprintf("0/%d nodes are available:", f.NumAllNodes)
	if f.PreFilter != nil {
		msg += " " + strings.Join(f.PreFilter.Reasons, ", ") + "."
	} else if h := histogram(f.NodeStatus, nil); h != "" {
		msg += " " + h + "."
	}
	if f.PostFilterMsg != "" {
		msg += " " + f.PostFilterMsg
	}
	return msg
}

// histogram counts each node's reasons ("2 Insufficient cpu") in sorted order;
// reasonOf, when set, replaces a node's reasons.
func histogram(statuses map[string]*Status, reasonOf func(*Status) string) string {
	counts := map[string]int{}
	for _, st := range statuses {
		if reasonOf != nil {
			counts[reasonOf(st)]++
			continue
		}
		for _, r := range st.Reasons {
			counts[r]++
		}
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// rejectedBy names the plugins that failed the pod anywhere, for the queue to know
// which cluster events may help it.
func (f *FitError) rejectedBy() map[string]bool {
	plugins := map[string]bool{}
	if f.PreFilter != nil {
		plugins[f.PreFilter.Plugin] = true
	}
	for _, st := range f.NodeStatus {
		plugins[st.Plugin] = true
	}
	return plugins
}
