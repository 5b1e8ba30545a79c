package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// gcTimeout bounds how long the tests wait for the garbage collector; a new CRD may
// take one discovery period (30s) to be watched.
const gcTimeout = 90 * time.Second

func ownerRef(apiVersion, kind, name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func createConfigMap(t *testing.T, ns, name string, finalizers []string, refs ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := srv.Client.CoreV1().ConfigMaps(ns).Create(ctxT(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: name, OwnerReferences: refs, Finalizers: finalizers}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap %s: %v", name, err)
	}
	return cm
}

func cmRef(cm *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return ownerRef("v1", "ConfigMap", cm.Name, cm.UID, block)
}

func waitConfigMapGone(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, gcTimeout, func() error {
		_, err := srv.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("configmap %s/%s still there (err %v)", ns, name, err)
	})
}

func deleteConfigMap(t *testing.T, ns, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := srv.Client.CoreV1().ConfigMaps(ns).Delete(ctxT(t), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatalf("delete %s: %v", name, err)
	}
}

// TestGCBackground: deleting an owner deletes its dependents; a dependent whose
// owner never existed goes too; one with another live owner only loses the
// reference to the deleted one.
func TestGCBackground(t *testing.T) {
	ns := newNamespace(t)
	owner := createConfigMap(t, ns, "owner", nil)
	other := createConfigMap(t, ns, "other", nil)
	createConfigMap(t, ns, "dep1", nil, cmRef(owner, false))
	createConfigMap(t, ns, "dep2", nil, cmRef(owner, true))
	createConfigMap(t, ns, "shared", nil, cmRef(owner, false), cmRef(other, false))
	createConfigMap(t, ns, "dangling", nil, ownerRef("v1", "ConfigMap", "never", "5f1c9a4e-0000-4000-8000-000000000001", false))

	waitConfigMapGone(t, ns, "dangling")
	if _, err := srv.Client.CoreV1().ConfigMaps(ns).Get(ctxT(t), "dep1", metav1.GetOptions{}); err != nil {
		t.Fatalf("dependent of a live owner was touched: %v", err)
	}
	deleteConfigMap(t, ns, "owner", metav1.DeletePropagationBackground)
	waitConfigMapGone(t, ns, "dep1")
	waitConfigMapGone(t, ns, "dep2")
	eventually(t, gcTimeout, func() error {
		cm, err := srv.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), "shared", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != other.UID {
			return fmt.Errorf("shared ownerReferences: %+v", cm.OwnerReferences)
		}
		return nil
	})
}

// TestGCForeground: an owner deleted in the foreground stays, with its
// foregroundDeletion finalizer, until its blocking dependents are gone.
func TestGCForeground(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	owner := createConfigMap(t, ns, "owner", nil)
	createConfigMap(t, ns, "blocker", []string{"example.com/hold"}, cmRef(owner, true))
	createConfigMap(t, ns, "plain", nil, cmRef(owner, false))
	deleteConfigMap(t, ns, "owner", metav1.DeletePropagationForeground)

	// The garbage collector deletes the dependents; the blocker stays while its own
	// finalizer holds it, and so does the owner.
	waitConfigMapGone(t, ns, "plain")
	eventually(t, gcTimeout, func() error {
		cm, err := srv.Client.CoreV1().ConfigMaps(ns).Get(ctx, "blocker", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.DeletionTimestamp == nil {
			return fmt.Errorf("blocker not deleted yet")
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	o, err := srv.Client.CoreV1().ConfigMaps(ns).Get(ctx, "owner", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("owner went before its blocking dependent: %v", err)
	}
	if o.DeletionTimestamp == nil || len(o.Finalizers) != 1 || o.Finalizers[0] != metav1.FinalizerDeleteDependents {
		t.Fatalf("owner in foreground deletion: deletionTimestamp %v finalizers %v", o.DeletionTimestamp, o.Finalizers)
	}
	if _, err := srv.Client.CoreV1().ConfigMaps(ns).Patch(ctx, "blocker", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitConfigMapGone(t, ns, "blocker")
	waitConfigMapGone(t, ns, "owner")
}

// TestGCOrphan: an owner deleted with orphaning goes, and its dependents stay
// without the reference to it.
func TestGCOrphan(t *testing.T) {
	ns := newNamespace(t)
	owner := createConfigMap(t, ns, "owner", nil)
	other := createConfigMap(t, ns, "other", nil)
	createConfigMap(t, ns, "dep1", nil, cmRef(owner, true))
	createConfigMap(t, ns, "dep2", nil, cmRef(owner, false), cmRef(other, false))
	deleteConfigMap(t, ns, "owner", metav1.DeletePropagationOrphan)
	waitConfigMapGone(t, ns, "owner")
	for name, want := range map[string]int{"dep1": 0, "dep2": 1} {
		cm, err := srv.Client.CoreV1().ConfigMaps(ns).Get(ctxT(t), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("orphaned dependent %s: %v", name, err)
		}
		if len(cm.OwnerReferences) != want {
			t.Fatalf("%s ownerReferences: %+v", name, cm.OwnerReferences)
		}
		for _, r := range cm.OwnerReferences {
			if r.UID == owner.UID {
				t.Fatalf("%s still references the deleted owner", name)
			}
		}
	}
}

const gadgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.gc.example.com
spec:
  group: gc.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// applyGadgetCRD installs a CRD of the garbage collector and namespace tests.
func applyGadgetCRD(t *testing.T) schema.GroupVersionResource {
	t.Helper()
	cache := []string{"--cache-dir", t.TempDir()}
	if out, err := srv.KubectlErr("", gadgetCRD, append(cache, "apply", "-f", "-")...); err != nil {
		t.Fatalf("apply CRD: %v\n%s", err, out)
	}
	srv.Kubectl(t, append(cache, "wait", "--for=condition=Established", "--timeout=60s", "crd/gadgets.gc.example.com")...)
	return schema.GroupVersionResource{Group: "gc.example.com", Version: "v1", Resource: "gadgets"}
}

func createGadget(t *testing.T, ns, name string, refs ...metav1.OwnerReference) *unstructured.Unstructured {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "gc.example.com", Version: "v1", Resource: "gadgets"}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "gc.example.com/v1", "kind": "Gadget",
		"metadata": map[string]any{"name": name}}}
	u.SetOwnerReferences(refs)
	var out *unstructured.Unstructured
	eventually(t, 30*time.Second, func() error {
		var err error
		out, err = srv.Dynamic.Resource(gvr).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{})
		return err
	})
	return out
}

// TestGCCustomResources: a custom resource owns a ConfigMap and is owned by one;
// deleting the owners deletes the dependents, custom or built in.
func TestGCCustomResources(t *testing.T) {
	ns := newNamespace(t)
	gvr := applyGadgetCRD(t)
	g := createGadget(t, ns, "owner")
	createConfigMap(t, ns, "owned-by-gadget", nil, ownerRef("gc.example.com/v1", "Gadget", g.GetName(), g.GetUID(), true))
	cm := createConfigMap(t, ns, "owns-a-gadget", nil)
	createGadget(t, ns, "owned-by-cm", cmRef(cm, false))

	if err := srv.Dynamic.Resource(gvr).Namespace(ns).Delete(ctxT(t), "owner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitConfigMapGone(t, ns, "owned-by-gadget")
	deleteConfigMap(t, ns, "owns-a-gadget", metav1.DeletePropagationBackground)
	eventually(t, gcTimeout, func() error {
		_, err := srv.Dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), "owned-by-cm", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("gadget owned-by-cm still there (err %v)", err)
	})
}
