package resourceslice

import (
	"testing"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func slice() *resourcev1.ResourceSlice {
	node := "node1"
	return &resourcev1.ResourceSlice{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: resourcev1.ResourceSliceSpec{
		Driver: "gpu.example.com", NodeName: &node, Pool: resourcev1.ResourcePool{Name: "node1", ResourceSliceCount: 1},
		Devices: []resourcev1.Device{{Name: "gpu-0"}},
	}}
}

func TestValidate(t *testing.T) {
	yes := true
	cases := []struct {
		name   string
		mutate func(*resourcev1.ResourceSlice)
		field  string
	}{
		{"valid", func(*resourcev1.ResourceSlice) {}, ""},
		{"no driver", func(s *resourcev1.ResourceSlice) { s.Spec.Driver = "" }, "spec.driver"},
		{"no pool", func(s *resourcev1.ResourceSlice) { s.Spec.Pool.Name = "" }, "spec.pool.name"},
		{"zero slices", func(s *resourcev1.ResourceSlice) { s.Spec.Pool.ResourceSliceCount = 0 }, "spec.pool.resourceSliceCount"},
		{"two node choices", func(s *resourcev1.ResourceSlice) { s.Spec.AllNodes = &yes }, "spec"},
		{"no node choice", func(s *resourcev1.ResourceSlice) { s.Spec.NodeName = nil }, "spec"},
		{"duplicate device", func(s *resourcev1.ResourceSlice) {
			s.Spec.Devices = append(s.Spec.Devices, resourcev1.Device{Name: "gpu-0"})
		}, "spec.devices[1].name"},
	}
	for _, c := range cases {
		s := slice()
		c.mutate(s)
		errs := Validate(s)
		if c.field == "" && len(errs) != 0 || c.field != "" && (len(errs) != 1 || errs[0].Field != c.field) {
			t.Errorf("%s: got %v, want error on %q", c.name, errs, c.field)
		}
	}
}

func TestFieldsAndRow(t *testing.T) {
	s := slice()
	f := Resource.Fields(s)
	if f["spec.nodeName"] != "node1" || f["spec.driver"] != "gpu.example.com" || f["spec.pool.name"] != "node1" {
		t.Errorf("fields %v", f)
	}
	if row := Resource.Row(s); row[1] != "node1" || row[2] != "gpu.example.com" || row[3] != "node1" {
		t.Errorf("row %v", row)
	}
	old := slice()
	s.Spec.Driver = "other.example.com"
	if errs := Resource.ValidateUpdate(nil, s, old); len(errs) != 1 || errs[0].Field != "spec.driver" {
		t.Errorf("driver change: %v", errs)
	}
}
