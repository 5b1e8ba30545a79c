package deviceclass

import (
	"testing"

	resourcev1 "k8s.io/api/resource/v1"
)

func TestValidate(t *testing.T) {
	c := &resourcev1.DeviceClass{Spec: resourcev1.DeviceClassSpec{Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: "true"}}}}}
	if errs := Validate(c); len(errs) != 0 {
		t.Errorf("valid class refused: %v", errs)
	}
	c.Spec.Selectors = []resourcev1.DeviceSelector{{}}
	c.Spec.Config = []resourcev1.DeviceClassConfiguration{{DeviceConfiguration: resourcev1.DeviceConfiguration{Opaque: &resourcev1.OpaqueDeviceConfiguration{}}}}
	errs := Validate(c)
	want := []string{"spec.selectors[0].cel", "spec.config[0].opaque.driver", "spec.config[0].opaque.parameters"}
	if len(errs) != len(want) {
		t.Fatalf("got %v, want errors on %v", errs, want)
	}
	for i, e := range errs {
		if e.Field != want[i] {
			t.Errorf("error %d on %s, want %s", i, e.Field, want[i])
		}
	}
}
