package persistentvolume

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func hostPathPV() *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{
		Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce},
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
		StorageClassName:       "manual",
		ClaimRef:               &corev1.ObjectReference{Namespace: "default", Name: "c1"},
	}}
	Defaults(pv)
	return pv
}

func TestDefaultsAndRow(t *testing.T) {
	pv := hostPathPV()
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || pv.Status.Phase != corev1.VolumePending {
		t.Fatalf("defaults %+v %+v", pv.Spec, pv.Status)
	}
	want := []any{"pv1", "1Gi", "RWO,RWX", "Retain", "Pending", "default/c1", "manual", "<unset>", "", pv.CreationTimestamp, "Filesystem"}
	row := Row(pv)
	for i, w := range want {
		if i == 9 {
			continue // age
		}
		if row[i] != w {
			t.Errorf("cell %d = %v, want %v", i, row[i], w)
		}
	}
	if len(row) != len(Resource.Columns) {
		t.Fatalf("%d cells for %d columns", len(row), len(Resource.Columns))
	}
}

func TestValidate(t *testing.T) {
	if errs := Validate(hostPathPV()); len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, tc := range []struct {
		mutate func(*corev1.PersistentVolume)
		want   string
	}{
		{func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = nil }, "spec.accessModes: Required value"},
		{func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = nil }, "spec.capacity: Required value"},
		{func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = nil }, "spec: Required value: must specify a volume type"},
		{func(pv *corev1.PersistentVolume) { pv.Spec.NFS = &corev1.NFSVolumeSource{Server: "s", Path: "/"} }, "may not specify more than 1 volume type"},
		{func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = "Keep" }, `spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep"`},
		{func(pv *corev1.PersistentVolume) {
			pv.Spec.HostPath = nil
			pv.Spec.Local = &corev1.LocalVolumeSource{Path: "/mnt"}
		}, "spec.nodeAffinity: Required value: Local volume requires node affinity"},
	} {
		pv := hostPathPV()
		tc.mutate(pv)
		if errs := Validate(pv); !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("errors %v, want %q", errs, tc.want)
		}
	}
}
