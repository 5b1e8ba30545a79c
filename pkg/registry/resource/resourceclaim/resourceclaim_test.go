package resourceclaim

import (
	"testing"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func claim(reqs ...resourcev1.DeviceRequest) *resourcev1.ResourceClaim {
	c := &resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: reqs}}}
	DefaultSpec(&c.Spec)
	return c
}

func TestDefaultSpec(t *testing.T) {
	c := claim(resourcev1.DeviceRequest{Name: "gpu", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "gpu.example.com"}},
		resourcev1.DeviceRequest{Name: "any", FirstAvailable: []resourcev1.DeviceSubRequest{{Name: "a", DeviceClassName: "x", AllocationMode: resourcev1.DeviceAllocationModeAll}}})
	e := c.Spec.Devices.Requests[0].Exactly
	if e.AllocationMode != resourcev1.DeviceAllocationModeExactCount || e.Count != 1 {
		t.Errorf("exactly defaults %+v", e)
	}
	if s := c.Spec.Devices.Requests[1].FirstAvailable[0]; s.Count != 0 {
		t.Errorf("count defaulted for All: %+v", s)
	}
	if errs := ValidateSpec(&c.Spec, field.NewPath("spec")); len(errs) != 0 {
		t.Errorf("valid claim refused: %v", errs)
	}
}

func TestValidateSpec(t *testing.T) {
	ex := func(class string) *resourcev1.ExactDeviceRequest {
		return &resourcev1.ExactDeviceRequest{DeviceClassName: class}
	}
	cases := []struct {
		name  string
		c     *resourcev1.ResourceClaim
		field string
	}{
		{"neither", claim(resourcev1.DeviceRequest{Name: "r"}), "spec.devices.requests[0]"},
		{"both", claim(resourcev1.DeviceRequest{Name: "r", Exactly: ex("x"), FirstAvailable: []resourcev1.DeviceSubRequest{{Name: "a", DeviceClassName: "x"}}}), "spec.devices.requests[0]"},
		{"no class", claim(resourcev1.DeviceRequest{Name: "r", Exactly: ex("")}), "spec.devices.requests[0].exactly.deviceClassName"},
		{"bad name", claim(resourcev1.DeviceRequest{Name: "R_1", Exactly: ex("x")}), "spec.devices.requests[0].name"},
		{"duplicate", claim(resourcev1.DeviceRequest{Name: "r", Exactly: ex("x")}, resourcev1.DeviceRequest{Name: "r", Exactly: ex("x")}), "spec.devices.requests[1].name"},
	}
	for _, c := range cases {
		errs := ValidateSpec(&c.c.Spec, field.NewPath("spec"))
		if len(errs) != 1 || errs[0].Field != c.field {
			t.Errorf("%s: got %v, want error on %s", c.name, errs, c.field)
		}
	}
	c := claim(resourcev1.DeviceRequest{Name: "r", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "x", AllocationMode: resourcev1.DeviceAllocationModeAll, Count: 2}})
	if errs := ValidateSpec(&c.Spec, field.NewPath("spec")); len(errs) != 1 || errs[0].Field != "spec.devices.requests[0].exactly.count" {
		t.Errorf("count with All: %v", errs)
	}
}

func TestStateAndStatus(t *testing.T) {
	c := claim()
	if State(c) != "pending" {
		t.Errorf("state %q", State(c))
	}
	c.Status.Allocation = &resourcev1.AllocationResult{}
	c.Status.ReservedFor = []resourcev1.ResourceClaimConsumerReference{{Resource: "pods", Name: "p", UID: "1"}}
	if State(c) != "allocated,reserved" {
		t.Errorf("state %q", State(c))
	}
	now := metav1.Now()
	c.DeletionTimestamp = &now
	c.Status.ReservedFor = nil
	if State(c) != "deleted,allocated,deallocating" {
		t.Errorf("state %q", State(c))
	}
	bad := claim()
	bad.Status.ReservedFor = []resourcev1.ResourceClaimConsumerReference{{Resource: "pods", Name: "p", UID: "1"}}
	if errs := ValidateStatus(bad, claim()); len(errs) != 1 || errs[0].Field != "status.reservedFor" {
		t.Errorf("reservedFor without allocation: %v", errs)
	}
}

func TestValidateSubRequests(t *testing.T) {
	c := claim(resourcev1.DeviceRequest{Name: "r", FirstAvailable: []resourcev1.DeviceSubRequest{
		{Name: "a", DeviceClassName: "Bad_Class", Selectors: []resourcev1.DeviceSelector{{}}},
		{Name: "a", DeviceClassName: "x", AllocationMode: "Some"},
		{Name: "", DeviceClassName: ""},
	}})
	want := []string{
		"spec.devices.requests[0].firstAvailable[0].deviceClassName",
		"spec.devices.requests[0].firstAvailable[0].selectors[0].cel",
		"spec.devices.requests[0].firstAvailable[1].name",
		"spec.devices.requests[0].firstAvailable[1].allocationMode",
		"spec.devices.requests[0].firstAvailable[2].name",
		"spec.devices.requests[0].firstAvailable[2].deviceClassName",
	}
	errs := ValidateSpec(&c.Spec, field.NewPath("spec"))
	if len(errs) != len(want) {
		t.Fatalf("got %v", errs)
	}
	for i, f := range want {
		if errs[i].Field != f {
			t.Errorf("error %d on %s, want %s: %v", i, errs[i].Field, f, errs[i])
		}
	}
}
