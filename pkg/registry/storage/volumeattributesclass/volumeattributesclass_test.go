package volumeattributesclass

import (
	"testing"

	storagev1 "k8s.io/api/storage/v1"
)

func TestValidate(t *testing.T) {
	if errs := Validate(&storagev1.VolumeAttributesClass{}); len(errs) != 1 || errs[0].Field != "driverName" {
		t.Errorf("missing driverName: %v", errs)
	}
	old := &storagev1.VolumeAttributesClass{DriverName: "csi.example.com", Parameters: map[string]string{"iops": "3000"}}
	c := old.DeepCopy()
	c.DriverName = "other.example.com"
	c.Parameters["iops"] = "1"
	errs := ValidateUpdate(c, old)
	if len(errs) != 2 || errs[0].Field != "driverName" || errs[1].Field != "parameters" {
		t.Errorf("update: %v", errs)
	}
}
