package persistentvolumeclaim

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func claim() *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c1"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}}
	Defaults(c)
	return c
}

func TestDefaultsValidateRow(t *testing.T) {
	c := claim()
	if *c.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || c.Status.Phase != corev1.ClaimPending {
		t.Fatalf("defaults %+v", c)
	}
	if errs := Validate(c); len(errs) > 0 {
		t.Fatal(errs)
	}
	noStorage := claim()
	noStorage.Spec.Resources.Requests = nil
	noStorage.Spec.AccessModes = nil
	msg := Validate(noStorage).ToAggregate().Error()
	for _, want := range []string{"spec.resources[storage]: Required value", "spec.accessModes: Required value: at least 1 access mode is required"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q missing from %q", want, msg)
		}
	}
	if row := Row(c); row[1] != "Pending" || row[2] != "" || row[3] != "" || row[6] != "<unset>" || row[8] != "Filesystem" {
		t.Fatalf("unbound row %v", row)
	}
	c.Spec.VolumeName = "pv1"
	c.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: c.Spec.AccessModes,
		Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}}
	if row := Row(c); row[1] != "Bound" || row[2] != "pv1" || row[3] != "2Gi" || row[4] != "RWO" {
		t.Fatalf("bound row %v", row)
	}
}

func TestValidateUpdate(t *testing.T) {
	old := claim()
	bind := old.DeepCopy()
	bind.Spec.VolumeName = "pv1"
	if errs := ValidateUpdate(bind, old); len(errs) > 0 {
		t.Fatalf("binding refused: %v", errs)
	}
	modes := old.DeepCopy()
	modes.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	if errs := ValidateUpdate(modes, old); !strings.Contains(errs.ToAggregate().Error(), "spec: Forbidden: spec is immutable after creation") {
		t.Fatalf("access mode change: %v", errs)
	}
	grow := old.DeepCopy()
	grow.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	if errs := ValidateUpdate(grow, old); len(errs) == 0 {
		t.Fatal("an unbound claim grew")
	}
	bound := bind.DeepCopy()
	bound.Status.Phase = corev1.ClaimBound
	grow = bound.DeepCopy()
	grow.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	if errs := ValidateUpdate(grow, bound); len(errs) > 0 {
		t.Fatalf("bound claim expansion refused: %v", errs)
	}
	shrink := bound.DeepCopy()
	shrink.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("500Mi")
	if errs := ValidateUpdate(shrink, bound); !strings.Contains(errs.ToAggregate().Error(), "field can not be less than previous value") {
		t.Fatalf("shrink: %v", errs)
	}
}
