package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestKubectlScaleAndCascade: `kubectl scale` writes the scale subresource, and the
// three --cascade modes of `kubectl delete` end with the object gone (the garbage
// collector processes the orphan and foregroundDeletion finalizers).
func TestKubectlScaleAndCascade(t *testing.T) {
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		ns := newNamespace(t)
		k.Run("create", "deployment", "web", "-n", ns, "--image=registry.example/web:1.0", "--replicas=1")
		mustContain(t, k.Run("get", "deploy", "web", "-n", ns, "-o", "wide"), "READY", "UP-TO-DATE", "AVAILABLE", "CONTAINERS", "IMAGES", "SELECTOR", "registry.example/web:1.0", "app=web")
		k.Run("scale", "deployment/web", "-n", ns, "--replicas=3")
		mustContain(t, k.Run("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas} {.metadata.generation}"), "3 2")
		mustContain(t, k.Run("get", "--raw", "/apis/apps/v1/namespaces/"+ns+"/deployments/web/scale"), `"kind":"Scale"`, `"replicas":3`)
		k.Run("set", "image", "deployment/web", "-n", ns, "web=registry.example/web:2.0")
		mustContain(t, k.Run("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.metadata.generation}"), "3")
		mustContain(t, k.Run("get", "all", "-n", ns), "deployment.apps/web")
		mustContain(t, k.Run("describe", "deploy", "web", "-n", ns), "Replicas:", "StrategyType:", "RollingUpdate", "registry.example/web:2.0")

		k.Run("create", "configmap", "fg", "-n", ns)
		k.Run("create", "configmap", "orphan", "-n", ns)
		k.Run("delete", "deployment", "web", "-n", ns, "--cascade=orphan", "--wait=false")
		k.Run("delete", "configmap", "fg", "-n", ns, "--cascade=foreground", "--wait=false")
		k.Run("delete", "configmap", "orphan", "-n", ns, "--cascade=background")
		if out, err := k.Try(nil, "", "get", "cm", "orphan", "-n", ns); err == nil || !strings.Contains(out, "NotFound") {
			t.Fatalf("background delete left the object: %v %s", err, out)
		}
		// The orphan and foregroundDeletion finalizers the apiserver set are the
		// garbage collector's to process: both objects go.
		for _, obj := range []string{"deploy/web", "cm/fg"} {
			eventually(t, gcTimeout, func() error {
				if out, err := k.Try(nil, "", "get", obj, "-n", ns); err == nil || !strings.Contains(out, "NotFound") {
					return fmt.Errorf("%s still there: %v %s", obj, err, out)
				}
				return nil
			})
		}
	})
}

// TestKubectlWatch: `kubectl get -w` streams changes as they happen.
func TestKubectlWatch(t *testing.T) {
	for _, kb := range srv.Kubectls() {
		ns := newNamespace(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := []string{"get", "configmaps", "-n", ns, "-w", "--output-watch-events"}
		var cmd *exec.Cmd
		if kb == srv.Bin {
			cmd = exec.CommandContext(ctx, kb, append([]string{"kubectl"}, args...)...)
		} else {
			cmd = exec.CommandContext(ctx, kb, args...)
		}
		cmd.Env = append(os.Environ(), "KUBECONFIG="+srv.Kubeconfig)
		out := &framework.SyncWriter{W: &bytes.Buffer{}}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		srv.Kubectl(t, "create", "configmap", "watched", "-n", ns)
		srv.Kubectl(t, "delete", "configmap", "watched", "-n", ns)
		eventually(t, 20*time.Second, func() error {
			if s := out.String(); !strings.Contains(s, "ADDED") || !strings.Contains(s, "DELETED") {
				return &framework.OutputError{Out: s}
			}
			return nil
		})
		cancel()
		_ = cmd.Wait()
	}
}

// TestKubectlWaitCondition: `kubectl wait --for=condition=…` on a status the test sets.
func TestKubectlWaitCondition(t *testing.T) {
	ns := newNamespace(t)
	srv.Kubectl(t, "create", "deployment", "cond", "-n", ns, "--image=registry.example/web:1.0", "--replicas=0")
	patch := `{"status":{"observedGeneration":1,"conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable","message":"ok","lastUpdateTime":"2026-01-01T00:00:00Z","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`
	go func() {
		time.Sleep(time.Second)
		_, _ = srv.KubectlErr("", "", "patch", "deployment", "cond", "-n", ns, "--subresource=status", "--type=merge", "-p", patch)
	}()
	for _, kb := range srv.Kubectls() {
		out, err := srv.KubectlErr(kb, "", "wait", "--for=condition=Available", "deployment/cond", "-n", ns, "--timeout=30s")
		if err != nil || !strings.Contains(out, "condition met") {
			t.Fatalf("%s wait: %v\n%s", kb, err, out)
		}
	}
}
