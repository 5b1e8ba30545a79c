package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

func testPV(name, class, size string, policy corev1.PersistentVolumeReclaimPolicy, lbls map[string]string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: class, PersistentVolumeReclaimPolicy: policy,
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}}}}
}

func testPVC(name string, class *string, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: class,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}
}

// waitBound waits for a claim and its volume to be Bound to each other.
func waitBound(t *testing.T, c kubernetes.Interface, ns, claim string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	t.Helper()
	ctx := ctxT(t)
	var pvc *corev1.PersistentVolumeClaim
	var pv *corev1.PersistentVolume
	eventually(t, time.Minute, func() error {
		var err error
		if pvc, err = c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{}); err != nil {
			return err
		}
		if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
			return fmt.Errorf("claim %s: %s", claim, pvc.Status.Phase)
		}
		if pv, err = c.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{}); err != nil {
			return err
		}
		if pv.Status.Phase != corev1.VolumeBound || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID {
			return fmt.Errorf("volume %s: %s %+v", pv.Name, pv.Status.Phase, pv.Spec.ClaimRef)
		}
		return nil
	})
	return pvc, pv
}

// TestPersistentVolumeBinding: claims bind to matching volumes (class, size,
// selector, or the volume they name), with upstream's annotations and phases; a
// retained volume is Released when its claim goes.
func TestPersistentVolumeBinding(t *testing.T) {
	ctx := ctxT(t)
	c := srv.Client
	ns := newNamespace(t)
	class := "manual-" + ns
	suffix := ns[len(ns)-8:]
	for _, pv := range []*corev1.PersistentVolume{
		testPV("pv-small-"+suffix, class, "1Gi", corev1.PersistentVolumeReclaimRetain, nil),
		testPV("pv-big-"+suffix, class, "5Gi", corev1.PersistentVolumeReclaimRetain, nil),
		testPV("pv-fast-"+suffix, class, "6Gi", corev1.PersistentVolumeReclaimRetain, map[string]string{"speed": "fast"}),
		testPV("pv-named-"+suffix, class, "1Gi", corev1.PersistentVolumeReclaimRetain, nil),
	} {
		if _, err := c.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}) })
	}
	// Named first, so that the size match below cannot take its volume.
	named := testPVC("named", &class, "1Gi")
	named.Spec.VolumeName = "pv-named-" + suffix
	fast := testPVC("fast", &class, "1Gi")
	fast.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"speed": "fast"}}
	for _, pvc := range []*corev1.PersistentVolumeClaim{named, fast, testPVC("sized", &class, "2Gi")} {
		if _, err := c.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	pvc, pv := waitBound(t, c, ns, "named")
	if pv.Name != "pv-named-"+suffix || pvc.Annotations["pv.kubernetes.io/bind-completed"] != "yes" || pvc.Annotations["pv.kubernetes.io/bound-by-controller"] != "" {
		t.Fatalf("named claim: volume %s annotations %v", pv.Name, pvc.Annotations)
	}
	_, pv = waitBound(t, c, ns, "fast")
	if pv.Name != "pv-fast-"+suffix {
		t.Fatalf("claim with a selector bound to %s", pv.Name)
	}
	pvc, pv = waitBound(t, c, ns, "sized")
	if pv.Name != "pv-big-"+suffix || pvc.Annotations["pv.kubernetes.io/bound-by-controller"] != "yes" ||
		pv.Annotations["pv.kubernetes.io/bound-by-controller"] != "yes" {
		t.Fatalf("sized claim: volume %s, claim annotations %v, volume annotations %v", pv.Name, pvc.Annotations, pv.Annotations)
	}
	if q := pvc.Status.Capacity[corev1.ResourceStorage]; q.String() != "5Gi" || len(pvc.Status.AccessModes) != 1 {
		t.Fatalf("claim status: %+v", pvc.Status)
	}
	out := srv.Kubectl(t, "get", "pvc", "sized", "-n", ns)
	mustContain(t, out, "Bound", "pv-big-"+suffix, "5Gi", "RWO", class)
	mustContain(t, srv.Kubectl(t, "get", "pv", "pv-small-"+suffix), "Available")

	// A claim nothing matches stays Pending, with upstream's event.
	if _, err := c.CoreV1().PersistentVolumeClaims(ns).Create(ctx, testPVC("toobig", &class, "50Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	empty := ""
	if _, err := c.CoreV1().PersistentVolumeClaims(ns).Create(ctx, testPVC("noclass", &empty, "50Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=noclass,reason=FailedBinding"})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Message == "no persistent volumes available for this claim and no storage class is set" {
				return nil
			}
		}
		return fmt.Errorf("no FailedBinding event")
	})
	if p, _ := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "toobig", metav1.GetOptions{}); p.Status.Phase != corev1.ClaimPending {
		t.Fatalf("toobig: %s", p.Status.Phase)
	}

	// The claim goes; Retain keeps the volume, Released.
	if err := c.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "sized", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		v, err := c.CoreV1().PersistentVolumes().Get(ctx, "pv-big-"+suffix, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if v.Status.Phase != corev1.VolumeReleased {
			return fmt.Errorf("volume %s", v.Status.Phase)
		}
		return nil
	})
}

// TestLocalPathProvisioner: the built-in local-path class is the default; a claim
// of it waits for its first consumer, and once the scheduler (or, until it does,
// this test) selects a node, a hostPath volume is provisioned in the data dir and
// bound. Deleting the claim deletes the volume and its directory.
func TestLocalPathProvisioner(t *testing.T) {
	s := framework.Start(t, "--sim-nodes=1")
	ctx := ctxT(t)
	c := s.Client
	var class *storagev1.StorageClass
	eventually(t, time.Minute, func() error {
		var err error
		class, err = c.StorageV1().StorageClasses().Get(ctx, "local-path", metav1.GetOptions{})
		return err
	})
	if class.Provisioner != "rancher.io/local-path" || class.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" ||
		*class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer || *class.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Fatalf("local-path class: %+v", class)
	}
	mustContain(t, s.Kubectl(t, "get", "storageclass"), "local-path (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer")

	ns := "default"
	if _, err := c.CoreV1().PersistentVolumeClaims(ns).Create(ctx, testPVC("data", nil, "1Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=data,reason=WaitForFirstConsumer"})
		if err != nil {
			return err
		}
		if len(evs.Items) == 0 || evs.Items[0].Message != "waiting for first consumer to be created before binding" {
			return fmt.Errorf("no WaitForFirstConsumer event: %+v", evs.Items)
		}
		return nil
	})
	pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "local-path" || pvc.Status.Phase != corev1.ClaimPending {
		t.Fatalf("claim without a class: class %v phase %s", pvc.Spec.StorageClassName, pvc.Status.Phase)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "user"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1",
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
	}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The scheduler's VolumeBinding plugin sets the selected node; until skiff's
	// scheduler does, the test plays that part.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pvc, err = c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pvc.Annotations["volume.kubernetes.io/selected-node"] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("the scheduler did not set volume.kubernetes.io/selected-node; the test sets it")
			patch := []byte(`{"metadata":{"annotations":{"volume.kubernetes.io/selected-node":"skiff-sim-0"}}}`)
			if _, err := c.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, "data", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	pvc, pv := waitBound(t, c, ns, "data")
	dir := filepath.Join(s.DataDir, "storage", fmt.Sprintf("pvc-%s_%s_data", pvc.UID, ns))
	if pv.Name != "pvc-"+string(pvc.UID) || pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir ||
		pv.Annotations["pv.kubernetes.io/provisioned-by"] != "rancher.io/local-path" ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.StorageClassName != "local-path" {
		t.Fatalf("provisioned volume: %s %+v %v", pv.Name, pv.Spec, pv.Annotations)
	}
	term := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
	if term.Key != corev1.LabelHostname || term.Values[0] != pvc.Annotations["volume.kubernetes.io/selected-node"] {
		t.Fatalf("node affinity: %+v", term)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o777 {
		t.Fatalf("volume directory %s: %v %v", dir, fi, err)
	}
	for _, reason := range []string{"ExternalProvisioning", "ProvisioningSucceeded"} {
		eventually(t, 30*time.Second, func() error {
			evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=data,reason=" + reason})
			if err != nil {
				return err
			}
			if len(evs.Items) == 0 {
				return fmt.Errorf("no %s event", reason)
			}
			return nil
		})
	}

	// The claim goes: the volume and its directory go too.
	if err := c.CoreV1().Pods(ns).Delete(ctx, "user", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		if _, err := c.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("volume still there: %v", err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			return fmt.Errorf("directory still there: %v", err)
		}
		return nil
	})
}
