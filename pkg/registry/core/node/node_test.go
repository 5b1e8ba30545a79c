package node

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRow(t *testing.T) {
	cases := []struct {
		name   string
		node   corev1.Node
		status string
		roles  string
	}{
		{"unknown", corev1.Node{}, "Unknown", "<none>"},
		{"ready", corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}, "Ready", "<none>"},
		{"notready cordoned", corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "true"}},
			Spec:       corev1.NodeSpec{Unschedulable: true},
			Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}},
		}, "NotReady,SchedulingDisabled", "control-plane,worker"},
	}
	for _, tc := range cases {
		row := Row(&tc.node)
		if len(row) != len(Resource.Columns) {
			t.Fatalf("%d cells for %d columns", len(row), len(Resource.Columns))
		}
		if row[1] != tc.status || row[2] != tc.roles {
			t.Errorf("%s: got %v %v", tc.name, row[1], row[2])
		}
		if row[5] != "<none>" || row[7] != "<unknown>" {
			t.Errorf("%s: wide cells %v", tc.name, row[5:])
		}
	}
}

func TestValidateUpdate(t *testing.T) {
	old := &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.42.0.0/24"}}
	Default(old)
	n := old.DeepCopy()
	n.Spec.PodCIDRs = []string{"10.42.1.0/24"}
	if got := ValidateUpdate(n, old); len(got) != 1 || !strings.Contains(got[0].Error(), "may not change podCIDR") {
		t.Errorf("podCIDR change: %v", got)
	}
	fresh := &corev1.Node{}
	n = fresh.DeepCopy()
	n.Spec.PodCIDRs = []string{"10.42.1.0/24"}
	if got := ValidateUpdate(n, fresh); len(got) != 0 {
		t.Errorf("setting podCIDR refused: %v", got)
	}
	n.Spec.Taints = []corev1.Taint{{Key: "k"}, {Key: "k", Effect: "Bad"}}
	got := ValidateUpdate(n, fresh)
	if len(got) != 2 || !strings.Contains(got[0].Error(), "spec.taints[0].effect: Required value") {
		t.Errorf("taints: %v", got)
	}
}
