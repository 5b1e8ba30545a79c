package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestNamespaceDeletion: `kubectl delete ns` on a namespace with ConfigMaps, a
// custom resource and a pod returns once the namespace controller emptied it and
// the namespace is gone.
func TestNamespaceDeletion(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	applyGadgetCRD(t)
	createConfigMap(t, ns, "a", nil)
	createConfigMap(t, ns, "b", nil)
	createGadget(t, ns, "g")
	if _, err := srv.Client.CoreV1().Pods(ns).Create(ctx, testPod("p"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := srv.KubectlErr("", "", "delete", "ns", ns, "--timeout=120s")
	if err != nil {
		t.Fatalf("kubectl delete ns: %v\n%s", err, out)
	}
	if _, err := srv.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace still there after kubectl delete returned: %v", err)
	}
}

// TestNamespaceContentRemaining: content held by a finalizer keeps the namespace
// Terminating, with upstream's conditions saying what remains; once the finalizer
// goes, so does the namespace.
func TestNamespaceContentRemaining(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	createConfigMap(t, ns, "held", []string{"example.com/hold"})
	if err := srv.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "False/ResourcesDiscovered/All resources successfully discovered",
		corev1.NamespaceDeletionContentFailure:   "False/ContentDeleted/All content successfully deleted, may be waiting on finalization",
		corev1.NamespaceContentRemaining:         "True/SomeResourcesRemain/Some resources are remaining: configmaps. has 1 resource instances",
		corev1.NamespaceFinalizersRemaining:      "True/SomeFinalizerRemain/Some finalizers are remaining: example.com/hold in 1 resource instances",
	}
	eventually(t, 60*time.Second, func() error {
		n, err := srv.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Status.Phase != corev1.NamespaceTerminating {
			return fmt.Errorf("phase %s", n.Status.Phase)
		}
		got := map[corev1.NamespaceConditionType]string{}
		for _, c := range n.Status.Conditions {
			got[c.Type] = fmt.Sprintf("%s/%s/%s", c.Status, c.Reason, c.Message)
		}
		for typ, w := range want {
			if got[typ] != w {
				return fmt.Errorf("condition %s: got %q, want %q", typ, got[typ], w)
			}
		}
		return nil
	})
	cm, err := srv.Client.CoreV1().ConfigMaps(ns).Get(ctx, "held", metav1.GetOptions{})
	if err != nil || cm.DeletionTimestamp == nil {
		t.Fatalf("held configmap should be being deleted: %v %+v", err, cm)
	}
	if _, err := srv.Client.CoreV1().ConfigMaps(ns).Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, func() error {
		_, err := srv.Client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("namespace %s still there: %v", ns, err)
	})
	out := srv.Kubectl(t, "get", "ns")
	if strings.Contains(out, ns) {
		t.Fatalf("kubectl get ns still lists %s:\n%s", ns, out)
	}
}
