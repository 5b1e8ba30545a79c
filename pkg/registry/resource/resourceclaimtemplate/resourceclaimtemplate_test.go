package resourceclaimtemplate

import (
	"testing"

	resourcev1 "k8s.io/api/resource/v1"
)

func TestValidate(t *testing.T) {
	tmpl := &resourcev1.ResourceClaimTemplate{}
	tmpl.Spec.Labels = map[string]string{"bad key!": "v"}
	tmpl.Spec.Spec.Devices.Requests = []resourcev1.DeviceRequest{{Name: "gpu"}}
	errs := Validate(tmpl)
	if len(errs) != 2 || errs[0].Field != "spec.metadata.labels" || errs[1].Field != "spec.spec.devices.requests[0]" {
		t.Errorf("got %v", errs)
	}
	old := &resourcev1.ResourceClaimTemplate{}
	old.Spec.Spec.Devices.Requests = []resourcev1.DeviceRequest{{Name: "gpu", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "a"}}}
	Resource.Defaults(old)
	upd := old.DeepCopy()
	upd.Spec.Spec.Devices.Requests[0].Exactly.DeviceClassName = "b"
	if errs := Resource.ValidateUpdate(nil, upd, old); len(errs) != 1 || errs[0].Field != "spec" {
		t.Errorf("spec change: %v", errs)
	}
}
