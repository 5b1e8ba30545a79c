package scheduling

import (
	"context"
	"testing"

	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestEnsureBuiltin(t *testing.T) {
	existing := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000, Description: "kept"}
	client := fake.NewClientset(existing)
	for range 2 { // idempotent
		if err := EnsureBuiltin(context.Background(), client); err != nil {
			t.Fatal(err)
		}
	}
	list, err := client.SchedulingV1().PriorityClasses().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]schedulingv1.PriorityClass{}
	for _, pc := range list.Items {
		got[pc.Name] = pc
	}
	if len(got) != 2 || got["system-node-critical"].Value != 2000001000 || got["system-cluster-critical"].Description != "kept" {
		t.Errorf("classes = %+v", got)
	}
}
