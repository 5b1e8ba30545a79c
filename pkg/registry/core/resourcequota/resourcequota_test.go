package resourcequota

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestColumns(t *testing.T) {
	q := &corev1.ResourceQuota{
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("2"),
			"limits.memory": resource.MustParse("1Gi"), "limits.cpu": resource.MustParse("4"),
		}},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{"pods": resource.MustParse("3")}},
	}
	req, lim := Columns(q)
	if req != "pods: 3/10, requests.cpu: 0/2" {
		t.Errorf("request column %q", req)
	}
	if lim != "limits.cpu: 0/4, limits.memory: 0/1Gi" {
		t.Errorf("limit column %q", lim)
	}
}

func TestValidate(t *testing.T) {
	q := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{
		Hard:   corev1.ResourceList{"pods": resource.MustParse("-1")},
		Scopes: []corev1.ResourceQuotaScope{"Nope"},
	}}
	msg := Validate(q).ToAggregate().Error()
	for _, want := range []string{`spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0`, `spec.scopes[0]: Unsupported value: "Nope"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q missing from %q", want, msg)
		}
	}
}
