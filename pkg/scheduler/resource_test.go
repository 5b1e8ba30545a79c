package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// A pod resized in place counts with the larger of its spec and what its
// node allocated and runs; with an Infeasible resize, with the latter only.
func TestPodRequestsWhileResized(t *testing.T) {
	cpu := func(q string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
	}
	pod := func(spec, alloc string, conds ...corev1.PodCondition) *corev1.Pod {
		return &corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: cpu(spec)}}}},
			Status: corev1.PodStatus{Conditions: conds, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "c", AllocatedResources: cpu(alloc), Resources: &corev1.ResourceRequirements{Requests: cpu(alloc)}}}},
		}
	}
	infeasible := corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: corev1.PodReasonInfeasible}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want int64
	}{
		{"growing", pod("500m", "100m"), 500},
		{"shrinking", pod("100m", "500m"), 500},
		{"infeasible", pod("64", "100m", infeasible), 100},
	} {
		if got := podRequests(tc.pod).MilliCPU; got != tc.want {
			t.Errorf("%s: %dm, want %dm", tc.name, got, tc.want)
		}
	}
	if !resized(pod("100m", "100m"), pod("100m", "500m")) || resized(pod("100m", "100m"), pod("100m", "100m")) {
		t.Error("resized")
	}
}
