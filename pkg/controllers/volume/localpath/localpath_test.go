package localpath

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

func TestProvisionAndDelete(t *testing.T) {
	dataDir := t.TempDir()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "sim-0",
		Labels: map[string]string{labelSimNode: "true", corev1.LabelHostname: "sim-0"}}}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns", UID: "1234",
		Annotations: map[string]string{storagehelpers.AnnStorageProvisioner: ProvisionerName, storagehelpers.AnnSelectedNode: "sim-0"}},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr(ClassName), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	client := fake.NewSimpleClientset(node, claim)
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0),
		Broadcaster: record.NewBroadcaster(), Config: controllers.Config{DataDir: dataDir}}
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Informers.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), p.synced...)
	if err := p.ensureClass(ctx); err != nil {
		t.Fatal(err)
	}
	class, err := client.StorageV1().StorageClasses().Get(ctx, ClassName, metav1.GetOptions{})
	if err != nil || class.Provisioner != ProvisionerName || class.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" {
		t.Fatalf("class: %+v %v", class, err)
	}
	eventuallyT(t, func() bool { _, err := p.classes.Get(ClassName); return err == nil })

	if err := p.syncClaim(ctx, "ns/data"); err != nil {
		t.Fatal(err)
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-1234", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(dataDir, "storage", "pvc-1234_ns_data")
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir || pv.Spec.ClaimRef.UID != "1234" ||
		pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "sim-0" ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Fatalf("volume: %+v", pv.Spec)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("directory: %v %v", fi, err)
	}

	pv.Status.Phase = corev1.VolumeReleased
	if _, err := client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyT(t, func() bool {
		v, _ := p.volumes.Get("pvc-1234")
		return v != nil && v.Status.Phase == corev1.VolumeReleased
	})
	if err := p.syncVolume(ctx, "pvc-1234"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory still there: %v", err)
	}
	if _, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-1234", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("volume not deleted: %v", err)
	}
}

func ptr(s string) *string { return &s }

func eventuallyT(t *testing.T, f func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if f() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("informer did not catch up")
}
