package csidriver

import (
	"reflect"
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDefaultAndRow(t *testing.T) {
	d := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "ebs.csi.aws.com"}}
	Default(d)
	if !*d.Spec.AttachRequired || *d.Spec.PodInfoOnMount || *d.Spec.StorageCapacity || *d.Spec.RequiresRepublish ||
		*d.Spec.FSGroupPolicy != storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy ||
		!reflect.DeepEqual(d.Spec.VolumeLifecycleModes, []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}) {
		t.Fatalf("defaults: %+v", d.Spec)
	}
	if errs := Validate(d); len(errs) != 0 {
		t.Fatalf("defaulted driver invalid: %v", errs)
	}
	got := Row(d)[:7]
	want := []any{"ebs.csi.aws.com", true, false, false, "<unset>", false, "Persistent"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row %v, want %v", got, want)
	}
	d.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "a"}, {Audience: "b"}}
	if Row(d)[4] != "a,b" {
		t.Errorf("token requests printed %v", Row(d)[4])
	}
}

func TestValidate(t *testing.T) {
	d := &storagev1.CSIDriver{}
	Default(d)
	short := int64(60)
	d.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "a", ExpirationSeconds: &short}, {Audience: "a"}}
	d.Spec.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{"Forever"}
	got := map[string]bool{}
	for _, e := range Validate(d) {
		got[e.Field] = true
	}
	for _, f := range []string{"spec.tokenRequests[0].expirationSeconds", "spec.tokenRequests[1].audience", "spec.volumeLifecycleModes[0]"} {
		if !got[f] {
			t.Errorf("no error for %s: %v", f, got)
		}
	}
	if msgs := Resource.ValidateName("UPPER_case", false); len(msgs) == 0 {
		t.Errorf("bad driver name accepted")
	}
}
