package csistoragecapacity

import (
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateAndRow(t *testing.T) {
	q := resource.MustParse("-1")
	c := &storagev1.CSIStorageCapacity{Capacity: &q}
	got := map[string]bool{}
	for _, e := range Validate(c) {
		got[e.Field] = true
	}
	if !got["storageClassName"] || !got["capacity"] {
		t.Errorf("errors: %v", got)
	}
	ten := resource.MustParse("10Gi")
	c = &storagev1.CSIStorageCapacity{ObjectMeta: metav1.ObjectMeta{Name: "c"}, StorageClassName: "fast", Capacity: &ten}
	if row := Resource.Row(c); row[1] != "fast" || row[2] != "10Gi" {
		t.Errorf("row %v", row)
	}
	c.Capacity = nil
	if row := Resource.Row(c); row[2] != "<unset>" {
		t.Errorf("row %v", row)
	}
}
