package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newNamespace creates a namespace with a unique name for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "t-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(strings.ReplaceAll(name, "_", "-"), "-") + "-" + hex.EncodeToString(b)
	ctx := ctxT(t)
	var err error
	for i := 0; i < 100; i++ { // the namespace lifecycle admission needs its informer synced
		_, err = srv.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err == nil {
			waitDefaultServiceAccount(t, name)
			return name
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("create namespace %s: %v", name, err)
	return ""
}

// waitDefaultServiceAccount waits for the serviceaccount controller to create the
// namespace's default ServiceAccount, as upstream's e2e framework does: until then the
// ServiceAccount admission plugin refuses pods that do not name another account.
func waitDefaultServiceAccount(t *testing.T, ns string) {
	t.Helper()
	eventually(t, time.Minute, func() error {
		_, err := srv.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
		return err
	})
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("condition not met within %s: %v", timeout, err)
}
