package storageclass

import (
	"reflect"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func fields(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field+" "+e.Type.String())
	}
	sort.Strings(out)
	return out
}

func valid() *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Provisioner: "ebs.csi.aws.com", Parameters: map[string]string{"type": "gp3"}}
	Default(sc)
	return sc
}

func TestDefault(t *testing.T) {
	sc := valid()
	if *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Fatalf("defaults: %v %v", *sc.ReclaimPolicy, *sc.VolumeBindingMode)
	}
}

func TestValidate(t *testing.T) {
	recycle := corev1.PersistentVolumeReclaimRecycle
	bad := storagev1.VolumeBindingMode("Later")
	cases := []struct {
		name   string
		mutate func(*storagev1.StorageClass)
		want   []string
	}{
		{"valid", func(*storagev1.StorageClass) {}, []string{}},
		{"no provisioner", func(s *storagev1.StorageClass) { s.Provisioner = "" }, []string{"provisioner Required value"}},
		{"bad provisioner", func(s *storagev1.StorageClass) { s.Provisioner = "-bad" }, []string{"provisioner Invalid value"}},
		{"recycle", func(s *storagev1.StorageClass) { s.ReclaimPolicy = &recycle }, []string{"reclaimPolicy Unsupported value"}},
		{"binding mode", func(s *storagev1.StorageClass) { s.VolumeBindingMode = &bad }, []string{"volumeBindingMode Unsupported value"}},
		{"no binding mode", func(s *storagev1.StorageClass) { s.VolumeBindingMode = nil }, []string{"volumeBindingMode Required value"}},
		{"empty topology", func(s *storagev1.StorageClass) { s.AllowedTopologies = []corev1.TopologySelectorTerm{{}} }, []string{"allowedTopologies[0].matchLabelExpressions Required value"}},
	}
	for _, c := range cases {
		sc := valid()
		c.mutate(sc)
		if got := fields(Validate(sc)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestValidateUpdate(t *testing.T) {
	old := valid()
	sc := valid()
	retain := corev1.PersistentVolumeReclaimRetain
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	sc.Parameters = map[string]string{"type": "io2"}
	sc.Provisioner = "other.csi"
	sc.ReclaimPolicy = &retain
	sc.VolumeBindingMode = &wffc
	want := []string{"parameters Forbidden", "provisioner Forbidden", "reclaimPolicy Forbidden", "volumeBindingMode Invalid value"}
	if got := fields(ValidateUpdate(sc, old)); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Labels and mount options may change.
	sc = valid()
	sc.Labels = map[string]string{"a": "b"}
	if errs := ValidateUpdate(sc, old); len(errs) != 0 {
		t.Errorf("label change refused: %v", errs)
	}
}

func TestRow(t *testing.T) {
	sc := valid()
	sc.Annotations = map[string]string{IsDefaultAnnotation: "true"}
	yes := true
	sc.AllowVolumeExpansion = &yes
	row := Row(sc)
	want := []any{"fast (default)", "ebs.csi.aws.com", "Delete", "Immediate", true}
	if !reflect.DeepEqual(row[:5], want) {
		t.Errorf("row %v, want %v", row, want)
	}
	sc.Annotations = map[string]string{BetaIsDefaultAnnotation: "true"}
	if Row(sc)[0] != "fast (default)" {
		t.Errorf("beta annotation not honoured")
	}
	sc.Annotations = nil
	if Row(sc)[0] != "fast" {
		t.Errorf("non-default printed as default")
	}
}
