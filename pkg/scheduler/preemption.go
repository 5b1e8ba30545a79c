package scheduler

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Preemption reasons, in upstream's words.
const (
	reasonNoVictims  = "No preemption victims found for incoming pod"
	reasonNotHelpful = "Preemption is not helpful for scheduling"
)

// preempt looks for running pods of lower priority whose eviction would let pod
// fit. It returns the nominated node ("" if none) and the message for the
// FitError.
func (s *Scheduler) preempt(_ context.Context, pod *corev1.Pod, fe *FitError) (string, string) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		return "", "preemption: not eligible due to preemptionPolicy=Never."
	}
	reasons := map[string]*Status{}
	for name, st := range fe.NodeStatus {
		reasons[name] = st
	}
	h := histogram(reasons, func(st *Status) string {
		if st.Code == UnschedulableAndUnresolvable {
			return reasonNotHelpful
		}
		return reasonNoVictims
	})
	if fe.PreFilter != nil {
		h = fmt.Sprintf("%d %s", fe.NumAllNodes, reasonNotHelpful)
	}
	return "", fmt.Sprintf("preemption: 0/%d nodes are available: %s.", fe.NumAllNodes, h)
}
