package replicaset

import (
	"context"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newRS() *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	Default(rs)
	return rs
}

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestValidate(t *testing.T) {
	rs := newRS()
	if *rs.Spec.Replicas != 1 {
		t.Errorf("replicas default %d", *rs.Spec.Replicas)
	}
	if errs := Resource.Validate(context.Background(), rs); len(errs) != 0 {
		t.Fatalf("valid rs: %v", errs)
	}
	rs.Spec.Template.Labels = map[string]string{"app": "other"}
	rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	got := errorKeys(Resource.Validate(context.Background(), rs))
	want := []string{"FieldValueInvalid spec.template.metadata.labels", "FieldValueNotSupported spec.template.spec.restartPolicy"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
	old := newRS()
	upd := old.DeepCopy()
	upd.Spec.Selector.MatchLabels["tier"] = "x"
	upd.Spec.Template.Labels["tier"] = "x"
	if got := errorKeys(Resource.ValidateUpdate(context.Background(), upd, old)); !slices.Equal(got, []string{"FieldValueInvalid spec.selector"}) {
		t.Errorf("selector change: %v", got)
	}
}

func TestStatus(t *testing.T) {
	st := &appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 2, ReadyReplicas: 1, AvailableReplicas: -1}
	got := errorKeys(ValidateStatus(st, field.NewPath("status")))
	want := []string{"FieldValueInvalid status.availableReplicas", "FieldValueInvalid status.fullyLabeledReplicas"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
}

func TestRowAndFields(t *testing.T) {
	rs := newRS()
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 1}
	row := Resource.Row(rs)
	want := []any{"web-abc", int64(1), int64(1), int64(1), row[4], "c", "busybox", "app=web"}
	if !slices.Equal(row, want) || len(row) != len(Resource.Columns) {
		t.Errorf("row = %v", row)
	}
	if f := Resource.Fields(rs); f["status.replicas"] != "1" {
		t.Errorf("fields = %v", f)
	}
}
