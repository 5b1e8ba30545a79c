package daemonset

import (
	"context"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newDS() *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "busybox"}},
					NodeSelector: map[string]string{"kubernetes.io/os": "linux"}},
			},
		},
	}
	Default(ds)
	return ds
}

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestDefaults(t *testing.T) {
	s := newDS().Spec
	ru := s.UpdateStrategy.RollingUpdate
	if s.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru.MaxUnavailable.String() != "1" || ru.MaxSurge.String() != "0" || *s.RevisionHistoryLimit != 10 {
		t.Errorf("defaults: %+v", s)
	}
}

func TestValidate(t *testing.T) {
	one, pct := intstr.FromInt32(1), intstr.FromString("10%")
	zero := intstr.FromInt32(0)
	for name, tc := range map[string]struct {
		mut  func(*appsv1.DaemonSet)
		want []string
	}{
		"valid": {func(*appsv1.DaemonSet) {}, nil},
		"no selector": {func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil },
			[]string{"FieldValueInvalid spec.template.metadata.labels"}},
		"surge and unavailable": {func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = &pct },
			[]string{"FieldValueInvalid spec.updateStrategy.rollingUpdate.maxSurge"}},
		"neither": {func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &zero },
			[]string{"FieldValueRequired spec.updateStrategy.rollingUpdate.maxUnavailable"}},
		"surge only": {func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &zero, MaxSurge: &one}
		}, nil},
		"unknown strategy": {func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Fast" },
			[]string{"FieldValueNotSupported spec.updateStrategy"}},
		"deadline": {func(ds *appsv1.DaemonSet) { n := int64(3); ds.Spec.Template.Spec.ActiveDeadlineSeconds = &n },
			[]string{"FieldValueInvalid spec.template.spec.activeDeadlineSeconds"}},
	} {
		ds := newDS()
		tc.mut(ds)
		if got := errorKeys(Resource.Validate(context.Background(), ds)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

func TestTemplateGeneration(t *testing.T) {
	ds := newDS()
	Resource.PrepareForCreate(context.Background(), ds)
	if ds.Annotations[TemplateGenerationAnnotation] != "1" {
		t.Fatalf("create: %v", ds.Annotations)
	}
	labelsOnly := ds.DeepCopy()
	labelsOnly.Labels = map[string]string{"x": "y"}
	Resource.PrepareForUpdate(context.Background(), labelsOnly, ds)
	if labelsOnly.Annotations[TemplateGenerationAnnotation] != "1" {
		t.Errorf("metadata change moved template generation: %v", labelsOnly.Annotations)
	}
	img := ds.DeepCopy()
	img.Spec.Template.Spec.Containers[0].Image = "busybox:1.36"
	Resource.PrepareForUpdate(context.Background(), img, ds)
	if img.Annotations[TemplateGenerationAnnotation] != "2" {
		t.Errorf("template change: %v", img.Annotations)
	}
}

func TestRow(t *testing.T) {
	ds := newDS()
	ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2}
	row := Resource.Row(ds)
	want := []any{"agent", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", row[7], "a", "busybox", "app=agent"}
	if !slices.Equal(row, want) || len(row) != len(Resource.Columns) {
		t.Errorf("row = %v", row)
	}
}
