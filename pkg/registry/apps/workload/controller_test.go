package workload

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestReplicasScale(t *testing.T) {
	s := ReplicasScale(func(obj runtime.Object) (**int32, int32, *metav1.LabelSelector) {
		rs := obj.(*appsv1.ReplicaSet)
		return &rs.Spec.Replicas, rs.Status.Replicas, rs.Spec.Selector
	})
	rs := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}},
		Status: appsv1.ReplicaSetStatus{Replicas: 2}}
	if spec, status, sel := s.Get(rs); spec != 1 || status != 2 || sel != "app=x" {
		t.Errorf("unset replicas: %d %d %q", spec, status, sel)
	}
	s.Set(rs, 4)
	if spec, _, _ := s.Get(rs); spec != 4 || *rs.Spec.Replicas != 4 {
		t.Errorf("after set: %d", spec)
	}
}

func TestValidateSelectedTemplate(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "y"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure}}
	errs := ValidateSelectedTemplate(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, tmpl, "deployment", "ReplicaSet", field.NewPath("spec"))
	want := map[string]bool{"spec.template.metadata.labels": false, "spec.template.spec.restartPolicy": false}
	for _, e := range errs {
		if _, ok := want[e.Field]; ok {
			want[e.Field] = true
		}
	}
	for f, seen := range want {
		if !seen {
			t.Errorf("no error at %s: %v", f, errs)
		}
	}
	if errs := ValidateSelectedTemplate(nil, tmpl, "deployment", "ReplicaSet", field.NewPath("spec")); len(errs) == 0 || errs[0].Field != "spec.selector" || errs[0].Type != field.ErrorTypeRequired {
		t.Errorf("nil selector: %v", errs)
	}
}
