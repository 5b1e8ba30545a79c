package workload

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestIntOrPercent(t *testing.T) {
	p := field.NewPath("x")
	for _, tc := range []struct {
		v                intstr.IntOrString
		value            int
		invalid, over100 bool
	}{
		{v: intstr.FromInt32(3), value: 3},
		{v: intstr.FromInt32(-1), value: -1, invalid: true},
		{v: intstr.FromString("25%"), value: 25},
		{v: intstr.FromString("150%"), value: 150, over100: true},
		{v: intstr.FromString("abc"), invalid: true},
	} {
		if got := IntOrPercentValue(&tc.v); got != tc.value {
			t.Errorf("%v: value %d, want %d", tc.v.String(), got, tc.value)
		}
		if got := len(ValidatePositiveIntOrPercent(&tc.v, p)) > 0; got != tc.invalid {
			t.Errorf("%v: invalid %v, want %v", tc.v.String(), got, tc.invalid)
		}
		if got := len(NotMoreThan100Percent(&tc.v, p)) > 0; got != tc.over100 {
			t.Errorf("%v: over 100%% %v, want %v", tc.v.String(), got, tc.over100)
		}
	}
}

func TestSelectors(t *testing.T) {
	p := field.NewPath("spec", "selector")
	if errs := ValidateSelector(nil, "deployment", p); len(errs) != 1 || errs[0].Type != field.ErrorTypeRequired {
		t.Errorf("nil selector: %v", errs)
	}
	errs := ValidateSelector(&metav1.LabelSelector{}, "deployment", p)
	if len(errs) != 1 || errs[0].Detail != "empty selector is invalid for deployment" {
		t.Errorf("empty selector: %v", errs)
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	lp := field.NewPath("spec", "template", "metadata", "labels")
	if errs := ValidateSelectorMatchesLabels(sel, map[string]string{"app": "web", "x": "y"}, lp); len(errs) != 0 {
		t.Errorf("matching labels: %v", errs)
	}
	errs = ValidateSelectorMatchesLabels(sel, map[string]string{"app": "db"}, lp)
	if len(errs) != 1 || errs[0].Field != "spec.template.metadata.labels" || errs[0].Detail != "`selector` does not match template `labels`" {
		t.Errorf("mismatch: %v", errs)
	}
	if errs := ValidateSelectorMatchesLabels(nil, map[string]string{"app": "db"}, lp); len(errs) != 1 {
		t.Errorf("a missing selector selects nothing: %v", errs)
	}
	if got := SelectorString(sel); got != "app=web" {
		t.Errorf("SelectorString = %q", got)
	}
}

func TestTemplateForController(t *testing.T) {
	ads := int64(5)
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, ActiveDeadlineSeconds: &ads}}
	errs := ValidateTemplateForController(tmpl, "ReplicaSet", field.NewPath("spec", "template"))
	if len(errs) != 2 || errs[0].Field != "spec.template.spec.restartPolicy" || errs[1].Detail != "activeDeadlineSeconds in ReplicaSet is not Supported" {
		t.Errorf("got %v", errs)
	}
}

func TestContainersAndImages(t *testing.T) {
	n, i := ContainersAndImages(&corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "x:1"}, {Name: "b", Image: "y"}}})
	if n != "a,b" || i != "x:1,y" {
		t.Errorf("got %q %q", n, i)
	}
}

func TestCounters(t *testing.T) {
	errs := Counters(field.NewPath("status"), map[string]int64{"replicas": -1, "ready": 0, "available": -2})
	if len(errs) != 2 || errs[0].Field != "status.available" || errs[1].Field != "status.replicas" {
		t.Errorf("got %v", errs)
	}
	if errs := NotGreaterThan(3, 2, "status.replicas", field.NewPath("status", "readyReplicas")); len(errs) != 1 || errs[0].Detail != "cannot be greater than status.replicas" {
		t.Errorf("got %v", errs)
	}
}
