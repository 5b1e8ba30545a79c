package nodestatus

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConditionsUnder(t *testing.T) {
	t0 := metav1.NewTime(time.Unix(1000, 0))
	old := Conditions(Ready, nil, t0)
	t1 := metav1.NewTime(time.Unix(2000, 0))
	got := ConditionsUnder(Pressure{Disk: true}, Ready, old, t1)
	want := map[corev1.NodeConditionType]struct {
		status     corev1.ConditionStatus
		reason     string
		transition metav1.Time
	}{
		corev1.NodeMemoryPressure: {corev1.ConditionFalse, "KubeletHasSufficientMemory", t0},
		corev1.NodeDiskPressure:   {corev1.ConditionTrue, "KubeletHasDiskPressure", t1},
		corev1.NodePIDPressure:    {corev1.ConditionFalse, "KubeletHasSufficientPID", t0},
		corev1.NodeReady:          {corev1.ConditionTrue, "KubeletReady", t0},
	}
	for _, c := range got {
		w := want[c.Type]
		if c.Status != w.status || c.Reason != w.reason || !c.LastTransitionTime.Equal(&w.transition) || !c.LastHeartbeatTime.Equal(&t1) {
			t.Errorf("%s: %+v", c.Type, c)
		}
	}
	mem := ConditionsUnder(Pressure{Memory: true, PID: true}, Ready, nil, t1)
	if mem[0].Message != "kubelet has insufficient memory available" || mem[2].Reason != "KubeletHasInsufficientPID" {
		t.Errorf("%+v", mem)
	}
}
