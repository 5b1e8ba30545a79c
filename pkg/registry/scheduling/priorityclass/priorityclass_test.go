package priorityclass

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		pc     schedulingv1.PriorityClass
		field  string
		detail string
	}{
		"user":        {pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000000000}},
		"too high":    {schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000000001}, "value", "maximum allowed value of a user defined priority is 1000000000"},
		"system":      {pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000}},
		"system fake": {schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-x"}, Value: 1}, "metadata.name", "priority class names with 'system-' prefix are reserved for system use only. error: system-x is not a known system priority class"},
		"system value": {schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 1}, "metadata.name",
			"priority class names with 'system-' prefix are reserved for system use only. error: value of system-cluster-critical PriorityClass must be 2000000000"},
	} {
		pc := tc.pc
		Default(&pc)
		errs := Resource.Validate(context.Background(), &pc)
		if tc.field == "" {
			if len(errs) != 0 {
				t.Errorf("%s: %v", name, errs)
			}
			continue
		}
		if len(errs) != 1 || errs[0].Field != tc.field || errs[0].Detail != tc.detail {
			t.Errorf("%s: got %v", name, errs)
		}
	}
}

func TestDefaultsAndUpdate(t *testing.T) {
	old := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 10}
	Default(old)
	if *old.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("policy = %v", *old.PreemptionPolicy)
	}
	upd := old.DeepCopy()
	upd.Value = 11
	never := corev1.PreemptNever
	upd.PreemptionPolicy = &never
	errs := Resource.ValidateUpdate(context.Background(), upd, old)
	if len(errs) != 2 || errs[0].Field != "value" || errs[0].Detail != "may not be changed in an update." || errs[1].Field != "preemptionPolicy" {
		t.Errorf("got %v", errs)
	}
	desc := old.DeepCopy()
	desc.Description = "now described"
	if errs := Resource.ValidateUpdate(context.Background(), desc, old); len(errs) != 0 {
		t.Errorf("description change: %v", errs)
	}
}

func TestBuiltinAndRow(t *testing.T) {
	for _, pc := range SystemPriorityClasses() {
		if errs := Resource.Validate(context.Background(), pc); len(errs) != 0 {
			t.Errorf("%s: %v", pc.Name, errs)
		}
	}
	row := Resource.Row(SystemPriorityClasses()[0])
	if row[0] != "system-node-critical" || row[1] != int64(2000001000) || row[2] != false || row[4] != "PreemptLowerPriority" {
		t.Errorf("row = %v", row)
	}
}
