package deployment

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

func newDeployment(mut func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.25"}}},
			},
		},
	}
	if mut != nil {
		mut(d)
	}
	Default(d)
	return d
}

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestDefaults(t *testing.T) {
	d := newDeployment(nil)
	s := d.Spec
	if *s.Replicas != 1 || *s.RevisionHistoryLimit != 10 || *s.ProgressDeadlineSeconds != 600 {
		t.Errorf("replicas/history/deadline = %d/%d/%d", *s.Replicas, *s.RevisionHistoryLimit, *s.ProgressDeadlineSeconds)
	}
	if s.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		s.Strategy.RollingUpdate.MaxSurge.String() != "25%" || s.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" {
		t.Errorf("strategy = %+v", s.Strategy)
	}
	if s.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || s.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("pod template defaults not applied: %+v", s.Template.Spec)
	}
	r := newDeployment(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType })
	if r.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate got rollingUpdate defaults")
	}
	if errs := Resource.Validate(context.Background(), d); len(errs) != 0 {
		t.Errorf("defaulted deployment invalid: %v", errs)
	}
}

func TestValidate(t *testing.T) {
	zero := intstr.FromInt32(0)
	for name, tc := range map[string]struct {
		mut  func(*appsv1.Deployment)
		want []string
	}{
		"no selector": {func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			[]string{"FieldValueRequired spec.selector", "FieldValueInvalid spec.template.metadata.labels"}},
		"empty selector": {func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			[]string{"FieldValueInvalid spec.selector"}},
		"selector does not match": {func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "db"} },
			[]string{"FieldValueInvalid spec.template.metadata.labels"}},
		"restartPolicy Never": {func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			[]string{"FieldValueNotSupported spec.template.spec.restartPolicy"}},
		"both zero": {func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &zero, MaxUnavailable: &zero}
		}, []string{"FieldValueInvalid spec.strategy.rollingUpdate.maxUnavailable"}},
		"recreate with rollingUpdate": {func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}, []string{"FieldValueForbidden spec.strategy.rollingUpdate"}},
		"unknown strategy": {func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "Blue" },
			[]string{"FieldValueNotSupported spec.strategy.type"}},
		"deadline not above minReady": {func(d *appsv1.Deployment) {
			n := int32(10)
			d.Spec.ProgressDeadlineSeconds, d.Spec.MinReadySeconds = &n, 10
		}, []string{"FieldValueInvalid spec.progressDeadlineSeconds"}},
		"negative replicas": {func(d *appsv1.Deployment) { n := int32(-1); d.Spec.Replicas = &n },
			[]string{"FieldValueInvalid spec.replicas"}},
	} {
		d := newDeployment(tc.mut)
		if got := errorKeys(Resource.Validate(context.Background(), d)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

func TestUpdate(t *testing.T) {
	old := newDeployment(nil)
	old.Generation = 3
	d := old.DeepCopy()
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
	d.Spec.Template.Labels["x"] = "y"
	if got := errorKeys(Resource.ValidateUpdate(context.Background(), d, old)); !slices.Equal(got, []string{"FieldValueInvalid spec.selector"}) {
		t.Errorf("selector change: %v", got)
	}

	same := old.DeepCopy()
	Resource.PrepareForUpdate(context.Background(), same, old)
	if same.Generation != 3 {
		t.Errorf("no change bumped generation to %d", same.Generation)
	}
	ann := old.DeepCopy()
	ann.Annotations = map[string]string{"kubernetes.io/change-cause": "x"}
	Resource.PrepareForUpdate(context.Background(), ann, old)
	if ann.Generation != 4 {
		t.Errorf("annotation change: generation %d, want 4", ann.Generation)
	}
	img := old.DeepCopy()
	img.Spec.Template.Spec.Containers[0].Image = "nginx:1.26"
	Resource.PrepareForUpdate(context.Background(), img, old)
	if img.Generation != 4 {
		t.Errorf("image change: generation %d, want 4", img.Generation)
	}
}

func TestScaleAndRow(t *testing.T) {
	d := newDeployment(nil)
	d.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 1}
	Resource.Scale.Set(d, 5)
	spec, status, sel := Resource.Scale.Get(d)
	if spec != 5 || status != 3 || sel != "app=web" {
		t.Errorf("scale = %d %d %q", spec, status, sel)
	}
	row := Resource.Row(d)
	want := []any{"web", "2/5", int64(3), int64(1), row[4], "nginx", "nginx:1.25", "app=web"}
	if !slices.Equal(row, want) || len(row) != len(Resource.Columns) {
		t.Errorf("row = %v", row)
	}
	var wide []string
	for _, c := range Resource.Columns {
		if c.Priority == 1 {
			wide = append(wide, c.Name)
		}
	}
	if !slices.Equal(wide, []string{"Containers", "Images", "Selector"}) {
		t.Errorf("wide columns = %v", wide)
	}
}

func TestStatus(t *testing.T) {
	st := &appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 3, AvailableReplicas: 3}
	got := errorKeys(ValidateStatus(st, field.NewPath("status")))
	want := []string{"FieldValueInvalid status.readyReplicas", "FieldValueInvalid status.availableReplicas"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
}
