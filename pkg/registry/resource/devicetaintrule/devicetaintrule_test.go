package devicetaintrule

import (
	"testing"

	resourcev1 "k8s.io/api/resource/v1"
)

func TestValidate(t *testing.T) {
	r := &resourcev1.DeviceTaintRule{Spec: resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "example.com/maintenance", Effect: resourcev1.DeviceTaintEffectNoSchedule}}}
	if errs := Validate(r); len(errs) != 0 {
		t.Errorf("valid rule refused: %v", errs)
	}
	r.Spec.Taint = resourcev1.DeviceTaint{Effect: "Evict"}
	errs := Validate(r)
	if len(errs) != 2 || errs[0].Field != "spec.taint.key" || errs[1].Field != "spec.taint.effect" {
		t.Errorf("got %v", errs)
	}
}
