package csinode

import (
	"strings"
	"testing"

	storagev1 "k8s.io/api/storage/v1"
)

func TestValidate(t *testing.T) {
	n := &storagev1.CSINode{Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{
		{Name: "csi.example.com", NodeID: "n1", TopologyKeys: []string{"topology.example.com/zone"}},
		{Name: "csi.example.com", NodeID: strings.Repeat("x", 200)},
		{Name: "other.example.com"},
	}}}
	got := map[string]bool{}
	for _, e := range Validate(n) {
		got[e.Field] = true
	}
	for _, f := range []string{"spec.drivers[1].name", "spec.drivers[1].nodeID", "spec.drivers[2].nodeID"} {
		if !got[f] {
			t.Errorf("no error for %s: %v", f, got)
		}
	}
	old := &storagev1.CSINode{Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: "csi.example.com", NodeID: "n1"}}}}
	upd := old.DeepCopy()
	upd.Spec.Drivers[0].NodeID = "n2"
	if errs := ValidateUpdate(upd, old); len(errs) != 1 || errs[0].Field != "spec.drivers[0].nodeID" {
		t.Errorf("nodeID change: %v", errs)
	}
}
