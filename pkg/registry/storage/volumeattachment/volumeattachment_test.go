package volumeattachment

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

func TestValidate(t *testing.T) {
	pv := "pv1"
	cases := []struct {
		name string
		spec storagev1.VolumeAttachmentSpec
		want string
	}{
		{"valid", storagev1.VolumeAttachmentSpec{Attacher: "csi.example.com", NodeName: "n1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}}, ""},
		{"no source", storagev1.VolumeAttachmentSpec{Attacher: "csi.example.com", NodeName: "n1"}, "spec.source"},
		{"both sources", storagev1.VolumeAttachmentSpec{Attacher: "csi.example.com", NodeName: "n1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv, InlineVolumeSpec: &corev1.PersistentVolumeSpec{}}}, "spec.source"},
		{"no node", storagev1.VolumeAttachmentSpec{Attacher: "csi.example.com", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}}, "spec.nodeName"},
		{"no attacher", storagev1.VolumeAttachmentSpec{NodeName: "n1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}}, "spec.attacher"},
	}
	for _, c := range cases {
		errs := Validate(&storagev1.VolumeAttachment{Spec: c.spec})
		if c.want == "" && len(errs) != 0 || c.want != "" && (len(errs) != 1 || errs[0].Field != c.want) {
			t.Errorf("%s: got %v, want error on %q", c.name, errs, c.want)
		}
	}
	old := &storagev1.VolumeAttachment{Spec: cases[0].spec}
	va := old.DeepCopy()
	va.Spec.NodeName = "n2"
	if errs := ValidateUpdate(va, old); len(errs) != 1 || errs[0].Detail != "field is immutable" {
		t.Errorf("spec change allowed: %v", errs)
	}
	va = old.DeepCopy()
	va.Status.Attached = true
	if row := Resource.Row(va); row[2] != "pv1" || row[4] != true {
		t.Errorf("row %v", row)
	}
}
