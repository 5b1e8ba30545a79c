package persistentvolume

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

func pv(name, size string, policy corev1.PersistentVolumeReclaimPolicy, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes: modes, PersistentVolumeReclaimPolicy: policy,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}}},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable}}
}

func pvc(name, size string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	empty := ""
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: k8stypes.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: modes, StorageClassName: &empty,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
}

func start(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, context.Context) {
	client := fake.NewSimpleClientset(objs...)
	c := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0), Broadcaster: record.NewBroadcaster()}
	pc, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.Informers.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), pc.synced...)
	return pc, client, ctx
}

// settle runs claim and volume syncs from the API's current state until nothing
// changes, waiting for the informers between rounds.
func settle(t *testing.T, pc *Controller, client *fake.Clientset, ctx context.Context) {
	t.Helper()
	for round := 0; round < 6; round++ {
		time.Sleep(50 * time.Millisecond)
		claims, _ := pc.claims.List(everything())
		for _, c := range claims {
			_ = pc.syncClaimKey(ctx, c.Namespace+"/"+c.Name)
		}
		time.Sleep(50 * time.Millisecond)
		vols, _ := pc.volumes.List(everything())
		for _, v := range vols {
			_ = pc.syncVolumeKey(ctx, v.Name)
		}
	}
}

func TestBindsSmallestMatchingVolume(t *testing.T) {
	rwo, rwx := corev1.ReadWriteOnce, corev1.ReadWriteMany
	pc, client, ctx := start(t,
		pv("big", "10Gi", corev1.PersistentVolumeReclaimRetain, rwo),
		pv("small", "2Gi", corev1.PersistentVolumeReclaimRetain, rwo),
		pv("tiny", "500Mi", corev1.PersistentVolumeReclaimRetain, rwo),
		pv("shared", "1Gi", corev1.PersistentVolumeReclaimRetain, rwo, rwx),
		pvc("claim", "1Gi", rwo))
	settle(t, pc, client, ctx)
	claim, _ := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "claim", metav1.GetOptions{})
	if claim.Spec.VolumeName != "small" || claim.Status.Phase != corev1.ClaimBound ||
		claim.Annotations[storagehelpers.AnnBindCompleted] != "yes" || claim.Annotations[storagehelpers.AnnBoundByController] != "yes" {
		t.Fatalf("claim: volume %q phase %s annotations %v", claim.Spec.VolumeName, claim.Status.Phase, claim.Annotations)
	}
	if q := claim.Status.Capacity[corev1.ResourceStorage]; q.String() != "2Gi" {
		t.Fatalf("claim capacity %s", q.String())
	}
	vol, _ := client.CoreV1().PersistentVolumes().Get(ctx, "small", metav1.GetOptions{})
	if vol.Status.Phase != corev1.VolumeBound || vol.Spec.ClaimRef == nil || vol.Spec.ClaimRef.UID != claim.UID ||
		vol.Annotations[storagehelpers.AnnBoundByController] != "yes" {
		t.Fatalf("volume: %s %+v %v", vol.Status.Phase, vol.Spec.ClaimRef, vol.Annotations)
	}

	// The claim goes: Retain keeps the volume Released.
	if err := client.CoreV1().PersistentVolumeClaims("ns").Delete(ctx, "claim", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	settle(t, pc, client, ctx)
	vol, _ = client.CoreV1().PersistentVolumes().Get(ctx, "small", metav1.GetOptions{})
	if vol.Status.Phase != corev1.VolumeReleased {
		t.Fatalf("retained volume phase %s", vol.Status.Phase)
	}
}

func TestPreboundAndReclaim(t *testing.T) {
	rwo := corev1.ReadWriteOnce
	named := pvc("named", "1Gi", rwo)
	named.Spec.VolumeName = "target"
	del := pv("deleteme", "1Gi", corev1.PersistentVolumeReclaimDelete, rwo)
	ext := pv("external", "1Gi", corev1.PersistentVolumeReclaimDelete, rwo)
	ext.Annotations = map[string]string{storagehelpers.AnnDynamicallyProvisioned: "rancher.io/local-path"}
	for _, v := range []*corev1.PersistentVolume{del, ext} {
		v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "gone", UID: "gone-uid"}
		v.Status.Phase = corev1.VolumeBound
	}
	pc, client, ctx := start(t, pv("target", "5Gi", corev1.PersistentVolumeReclaimRetain, rwo), named, del, ext)
	settle(t, pc, client, ctx)
	claim, _ := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "named", metav1.GetOptions{})
	if claim.Status.Phase != corev1.ClaimBound || claim.Annotations[storagehelpers.AnnBoundByController] != "" {
		t.Fatalf("pre-bound claim: %s %v", claim.Status.Phase, claim.Annotations)
	}
	got := func(name string) *corev1.PersistentVolume {
		v, _ := client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		return v
	}
	if v := got("deleteme"); v.Status.Phase != corev1.VolumeFailed || v.Status.Message == "" {
		t.Fatalf("Delete without a plugin: %s %q", v.Status.Phase, v.Status.Message)
	}
	if v := got("external"); v.Status.Phase != corev1.VolumeReleased {
		t.Fatalf("externally provisioned volume: %s", v.Status.Phase)
	}
}

func TestWaitForFirstConsumerAndProvisioner(t *testing.T) {
	pc, client, ctx := start(t, classWFFC())
	claim := pvc("data", "1Gi", corev1.ReadWriteOnce)
	claim.Spec.StorageClassName = nil
	if _, err := client.CoreV1().PersistentVolumeClaims("ns").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	settle(t, pc, client, ctx)
	got, _ := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data", metav1.GetOptions{})
	if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "local-path" {
		t.Fatalf("default class not assigned: %v", got.Spec.StorageClassName)
	}
	if got.Annotations[storagehelpers.AnnStorageProvisioner] != "" {
		t.Fatal("handed to the provisioner before a node was selected")
	}
	got.Annotations = map[string]string{storagehelpers.AnnSelectedNode: "n1"}
	if _, err := client.CoreV1().PersistentVolumeClaims("ns").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	settle(t, pc, client, ctx)
	got, _ = client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data", metav1.GetOptions{})
	if got.Annotations[storagehelpers.AnnStorageProvisioner] != "rancher.io/local-path" ||
		got.Annotations[storagehelpers.AnnBetaStorageProvisioner] != "rancher.io/local-path" {
		t.Fatalf("provisioner annotations: %v", got.Annotations)
	}
}
