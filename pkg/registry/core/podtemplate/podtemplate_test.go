package podtemplate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateAndRow(t *testing.T) {
	pt := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "pt"}, Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}, {Name: "d", Image: "nginx"}}},
	}}
	Resource.Defaults(pt)
	if errs := Validate(pt); len(errs) > 0 {
		t.Fatalf("valid template: %v", errs)
	}
	row := Row(pt)
	if row[1] != "c,d" || row[2] != "busybox,nginx" || row[3] != "a=b" {
		t.Errorf("row %v", row)
	}
	pt.Template.Spec.Containers = nil
	if errs := Validate(pt); len(errs) != 1 || errs[0].Field != "template.spec.containers" {
		t.Errorf("no containers: %v", errs)
	}
}
