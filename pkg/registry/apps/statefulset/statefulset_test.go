package statefulset

import (
	"context"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newSTS() *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pg", Image: "postgres:16"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
		},
	}
	Default(s)
	return s
}

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestDefaults(t *testing.T) {
	s := newSTS().Spec
	if s.PodManagementPolicy != appsv1.OrderedReadyPodManagement || s.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType ||
		*s.UpdateStrategy.RollingUpdate.Partition != 0 || *s.Replicas != 1 || *s.RevisionHistoryLimit != 10 {
		t.Errorf("spec defaults: %+v", s)
	}
	if p := s.PersistentVolumeClaimRetentionPolicy; p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("retention = %+v", p)
	}
	if c := s.VolumeClaimTemplates[0]; *c.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || c.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim template defaults: %+v", c)
	}
	od := newSTS()
	od.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	Default(od)
	if od.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Errorf("OnDelete got rollingUpdate")
	}
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		mut  func(*appsv1.StatefulSet)
		want []string
	}{
		"valid": {func(*appsv1.StatefulSet) {}, nil},
		"bad policy": {func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" },
			[]string{"FieldValueInvalid spec.podManagementPolicy"}},
		"rollingUpdate with OnDelete": {func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType },
			[]string{"FieldValueInvalid spec.updateStrategy.rollingUpdate"}},
		"bad retention": {func(s *appsv1.StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" },
			[]string{"FieldValueNotSupported spec.persistentVolumeClaimRetentionPolicy.whenScaled"}},
		"empty selector": {func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} },
			[]string{"FieldValueInvalid spec.selector"}},
		"negative partition": {func(s *appsv1.StatefulSet) { n := int32(-1); s.Spec.UpdateStrategy.RollingUpdate.Partition = &n },
			[]string{"FieldValueInvalid spec.updateStrategy.rollingUpdate.partition"}},
	} {
		s := newSTS()
		tc.mut(s)
		if got := errorKeys(Resource.Validate(context.Background(), s)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

func TestUpdate(t *testing.T) {
	old := newSTS()
	ok := old.DeepCopy()
	n := int32(5)
	ok.Spec.Replicas = &n
	ok.Spec.Template.Spec.Containers[0].Image = "postgres:17"
	ok.Spec.MinReadySeconds = 3
	ok.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	if errs := Resource.ValidateUpdate(context.Background(), ok, old); len(errs) != 0 {
		t.Errorf("allowed changes rejected: %v", errs)
	}
	bad := old.DeepCopy()
	bad.Spec.ServiceName = "other"
	if got := errorKeys(Resource.ValidateUpdate(context.Background(), bad, old)); !slices.Equal(got, []string{"FieldValueForbidden spec"}) {
		t.Errorf("serviceName change: %v", got)
	}
}

func TestRow(t *testing.T) {
	s := newSTS()
	s.Status.ReadyReplicas = 1
	row := Resource.Row(s)
	if want := []any{"db", "1/1", row[2], "pg", "postgres:16"}; !slices.Equal(row, want) || len(row) != len(Resource.Columns) {
		t.Errorf("row = %v", row)
	}
	if spec, _, sel := Resource.Scale.Get(s); spec != 1 || sel != "app=db" {
		t.Errorf("scale = %d %q", spec, sel)
	}
}
