package scheduler

import (
	"context"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// handleFailure carries out the preemption planned for a pod no node fits, reports why (the
// PodScheduled condition, a FailedScheduling event) and parks the pod until the
// cluster changes.
func (s *Scheduler) handleFailure(ctx context.Context, qp *queuedPod, cycle int64, fe *FitError, plan *preemptionPlan) {
	pod := qp.pod
	nominated := ""
	if plan != nil {
		nominated = plan.node
		s.cache.Nominate(pod, nominated)
		s.execute(ctx, pod, plan)
	}
	msg := fe.Error()
	klog.FromContext(ctx).V(2).Info("Unable to schedule pod", "pod", klog.KObj(pod), "reason", msg)
	s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	if err := s.setUnschedulable(ctx, pod, msg, nominated); err != nil {
		klog.FromContext(ctx).V(2).Info("Updating pod condition failed", "pod", klog.KObj(pod), "err", err)
	}
	s.queue.Unschedulable(qp, cycle, fe.rejectedBy())
}

// setUnschedulable patches PodScheduled=False/Unschedulable and the nominated node
// into the pod's status, unless they already say so.
func (s *Scheduler) setUnschedulable(ctx context.Context, pod *corev1.Pod, msg, nominated string) error {
	cond := corev1.PodCondition{
		Type:               corev1.PodScheduled,
		Status:             corev1.ConditionFalse,
		Reason:             corev1.PodReasonUnschedulable,
		Message:            msg,
		ObservedGeneration: pod.Generation,
		LastTransitionTime: metav1.Now(),
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodScheduled {
			continue
		}
		if c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message &&
			pod.Status.NominatedNodeName == nominated {
			return nil
		}
		if c.Status == cond.Status {
			cond.LastTransitionTime = c.LastTransitionTime
		}
	}
	status := map[string]any{"conditions": []corev1.PodCondition{cond}}
	if nominated != pod.Status.NominatedNodeName {
		if nominated == "" {
			status["nominatedNodeName"] = nil
		} else {
			status["nominatedNodeName"] = nominated
		}
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}
