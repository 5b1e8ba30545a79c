package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestDefaultServiceAccountAndRootCA checks that a new namespace gets the default
// ServiceAccount and the kube-root-ca.crt ConfigMap (the server CA, annotated as
// upstream), and that both come back when deleted and the ConfigMap when edited.
func TestDefaultServiceAccountAndRootCA(t *testing.T) {
	ctx := ctxT(t)
	c := srv.Client
	ns := newNamespace(t)
	ca, err := os.ReadFile(filepath.Join(srv.DataDir, "server", "tls", "server-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	waitSA := func(notUID types.UID) *corev1.ServiceAccount {
		t.Helper()
		var sa *corev1.ServiceAccount
		eventually(t, time.Minute, func() error {
			var err error
			sa, err = c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			if err == nil && sa.UID == notUID {
				return fmt.Errorf("still the deleted service account")
			}
			return err
		})
		return sa
	}
	waitCM := func(notUID types.UID) *corev1.ConfigMap {
		t.Helper()
		var cm *corev1.ConfigMap
		eventually(t, time.Minute, func() error {
			var err error
			cm, err = c.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cm.UID == notUID {
				return fmt.Errorf("still the deleted configmap")
			}
			if cm.Data["ca.crt"] != string(ca) {
				return fmt.Errorf("ca.crt = %q, want the server CA", cm.Data["ca.crt"])
			}
			return nil
		})
		return cm
	}

	sa := waitSA("")
	cm := waitCM("")
	if d := cm.Annotations["kubernetes.io/description"]; d == "" {
		t.Errorf("kube-root-ca.crt annotations = %v, want kubernetes.io/description", cm.Annotations)
	}

	// Deleted: re-created.
	if err := c.CoreV1().ServiceAccounts(ns).Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSA(sa.UID)
	if err := c.CoreV1().ConfigMaps(ns).Delete(ctx, "kube-root-ca.crt", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cm = waitCM(cm.UID)

	// Edited: put back.
	cm.Data["ca.crt"] = "tampered"
	if _, err := c.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCM("")

	// The system namespaces have them too.
	for _, sys := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		eventually(t, time.Minute, func() error {
			if _, err := c.CoreV1().ServiceAccounts(sys).Get(ctx, "default", metav1.GetOptions{}); err != nil {
				return err
			}
			_, err := c.CoreV1().ConfigMaps(sys).Get(context.Background(), "kube-root-ca.crt", metav1.GetOptions{})
			return err
		})
	}
}
