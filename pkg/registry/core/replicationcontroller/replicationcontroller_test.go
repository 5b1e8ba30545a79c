package replicationcontroller

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rc() *corev1.ReplicationController {
	r := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ReplicationControllerSpec{Template: &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
		}},
	}
	Default(r)
	return r
}

func TestDefault(t *testing.T) {
	r := rc()
	if *r.Spec.Replicas != 1 || r.Spec.Selector["app"] != "web" || r.Labels["app"] != "web" {
		t.Errorf("defaults: %+v", r)
	}
	if r.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || r.Spec.Template.Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("template defaults: %+v", r.Spec.Template.Spec)
	}
}

func TestValidate(t *testing.T) {
	if errs := Validate(rc()); len(errs) > 0 {
		t.Fatalf("valid rc: %v", errs)
	}
	cases := map[string]func(r *corev1.ReplicationController){
		"spec.template.metadata.labels: Invalid value": func(r *corev1.ReplicationController) {
			r.Spec.Selector = map[string]string{"app": "other"}
		},
		"spec.template: Required value":                                        func(r *corev1.ReplicationController) { r.Spec.Template = nil },
		"spec.replicas: Invalid value: -1: must be greater than or equal to 0": func(r *corev1.ReplicationController) { n := int32(-1); r.Spec.Replicas = &n },
		`spec.template.spec.restartPolicy: Unsupported value: "Never"`: func(r *corev1.ReplicationController) {
			r.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		},
	}
	for want, mutate := range cases {
		r := rc()
		mutate(r)
		var got []string
		for _, e := range Validate(r) {
			got = append(got, e.Error())
		}
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("want %q in %v", want, got)
		}
	}
}

func TestRow(t *testing.T) {
	r := rc()
	r.Status.Replicas, r.Status.ReadyReplicas = 2, 1
	row := Row(r)
	if len(row) != len(Resource.Columns) {
		t.Fatalf("%d cells for %d columns", len(row), len(Resource.Columns))
	}
	if row[1] != int64(1) || row[2] != int64(2) || row[3] != int64(1) || row[5] != "c" || row[6] != "nginx:1" || row[7] != "app=web" {
		t.Errorf("row %v", row)
	}
}
