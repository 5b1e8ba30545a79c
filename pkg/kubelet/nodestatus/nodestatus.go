// Package nodestatus builds the node conditions a kubelet posts, shared by the real
// kubelet and the simulated nodes so both report exactly what upstream's kubelet does.
package nodestatus

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Ready is the Ready condition of a kubelet that is up.
var Ready = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}

// Conditions are the pressure conditions of a node under no pressure, then ready,
// heartbeat now; a condition whose status is unchanged from old keeps its
// lastTransitionTime.
func Conditions(ready corev1.NodeCondition, old []corev1.NodeCondition, now metav1.Time) []corev1.NodeCondition {
	return ConditionsUnder(Pressure{}, ready, old, now)
}

// Pressure is what the eviction manager observed.
type Pressure struct{ Memory, Disk, PID bool }

// ConditionsUnder are Conditions with the pressure conditions as p says,
// worded as upstream's kubelet words them.
func ConditionsUnder(p Pressure, ready corev1.NodeCondition, old []corev1.NodeCondition, now metav1.Time) []corev1.NodeCondition {
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		ready,
	}
	if p.Memory {
		conds[0].Status, conds[0].Reason, conds[0].Message = corev1.ConditionTrue, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"
	}
	if p.Disk {
		conds[1].Status, conds[1].Reason, conds[1].Message = corev1.ConditionTrue, "KubeletHasDiskPressure", "kubelet has disk pressure"
	}
	if p.PID {
		conds[2].Status, conds[2].Reason, conds[2].Message = corev1.ConditionTrue, "KubeletHasInsufficientPID", "kubelet has insufficient PID available"
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
		for _, o := range old {
			if o.Type == conds[i].Type && o.Status == conds[i].Status {
				conds[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return conds
}
