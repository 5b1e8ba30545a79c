package runtimeclass

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc",
		Overhead: &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
		Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{"sandbox": "gvisor"},
			Tolerations: []corev1.Toleration{{Key: "sandbox", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}}}
	if errs := Resource.Validate(context.Background(), rc); len(errs) != 0 {
		t.Errorf("valid: %v", errs)
	}
	bad := rc.DeepCopy()
	bad.Handler = "Run_SC"
	bad.Overhead.PodFixed[corev1.ResourceCPU] = resource.MustParse("-1")
	errs := Resource.Validate(context.Background(), bad)
	if len(errs) != 2 || errs[0].Field != "handler" || errs[1].Field != "overhead.podFixed[cpu]" {
		t.Errorf("got %v", errs)
	}
	changed := rc.DeepCopy()
	changed.Handler = "kata"
	if errs := Resource.ValidateUpdate(context.Background(), changed, rc); len(errs) != 1 || errs[0].Detail != "field is immutable" {
		t.Errorf("handler change: %v", errs)
	}
	if row := Resource.Row(rc); row[0] != "gvisor" || row[1] != "runsc" {
		t.Errorf("row = %v", row)
	}
}
