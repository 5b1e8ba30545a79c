package storageversionmigration

import (
	"testing"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func cond(t storagemigrationv1.MigrationConditionType) metav1.Condition {
	return metav1.Condition{Type: string(t), Status: metav1.ConditionTrue, Reason: "R", LastTransitionTime: metav1.Now()}
}

func TestValidate(t *testing.T) {
	if errs := Validate(&storagemigrationv1.StorageVersionMigration{}); len(errs) != 1 || errs[0].Field != "spec.resource.resource" {
		t.Errorf("missing resource: %v", errs)
	}
	old := &storagemigrationv1.StorageVersionMigration{Spec: storagemigrationv1.StorageVersionMigrationSpec{Resource: metav1.GroupResource{Resource: "secrets"}}}
	m := old.DeepCopy()
	m.Spec.Resource.Resource = "configmaps"
	if errs := Resource.ValidateUpdate(nil, m, old); len(errs) != 1 || errs[0].Field != "spec" {
		t.Errorf("spec change: %v", errs)
	}
}

func TestValidateStatus(t *testing.T) {
	old := &storagemigrationv1.StorageVersionMigration{}
	m := old.DeepCopy()
	m.Status.Conditions = []metav1.Condition{cond(storagemigrationv1.MigrationSucceeded), cond(storagemigrationv1.MigrationFailed)}
	if errs := ValidateStatus(m, old); len(errs) != 1 {
		t.Errorf("succeeded and failed: %v", errs)
	}
	old.Status.Conditions = []metav1.Condition{cond(storagemigrationv1.MigrationSucceeded)}
	old.Status.ResourceVersion = "10"
	m = old.DeepCopy()
	m.Status.Conditions = []metav1.Condition{cond(storagemigrationv1.MigrationRunning)}
	m.Status.ResourceVersion = "11"
	if errs := ValidateStatus(m, old); len(errs) != 2 {
		t.Errorf("succeeded removed and resourceVersion changed: %v", errs)
	}
}
