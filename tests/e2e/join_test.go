package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestJoinAgent joins a second process as a node: `skiff server
// --disable-agent`, then `skiff agent --server --token-file` with its own data
// dir, run dir, bridge, cgroup and kubelet port. The node turns Ready, a pod
// runs on it, and kubectl logs and exec reach its kubelet API through the
// apiserver with the serving certificate the node got through a CSR.
func TestJoinAgent(t *testing.T) {
	ctdRequire(t)
	netRequireRoot(t)
	n := newKubeletNode(t, "e2e-join-", "skj")
	n.s = framework.Start(t, "--cluster-cidr", n.cidr.String())
	agentData := t.TempDir()
	n.agentDir = filepath.Join(agentData, "agent")

	args := append([]string{"agent",
		"--server", "https://127.0.0.1:" + strconv.Itoa(n.s.Port),
		"--token-file", filepath.Join(n.s.DataDir, "server", "token"),
		"--data-dir", agentData,
		"--cluster-dns-port", strconv.Itoa(framework.FreePort(t)),
	}, n.agentArgs(t)...)
	agentLog := &framework.SyncWriter{W: &bytes.Buffer{}}
	startAgent := func() (stop func()) {
		cmd := exec.Command(n.s.Bin, args...)
		cmd.Stdout, cmd.Stderr = agentLog, agentLog
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		return func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
	}
	stop := startAgent()
	t.Cleanup(func() { stop() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- agent log ---\n%s", agentLog.String())
		}
	})
	// Runs first: the joined kubelet tears the pods down.
	t.Cleanup(func() { n.deleteAllPods(t) })
	start := time.Now()
	n.waitReady(t)
	t.Logf("joined node Ready %v after the agent started", time.Since(start).Round(time.Millisecond))

	kc := filepath.Join(n.agentDir, "kubelet.kubeconfig")
	if st, err := os.Stat(kc); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, want mode 0600", kc, err)
	}
	ctx := context.Background()
	node, err := n.s.Client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels["node-role.kubernetes.io/control-plane"] != "" {
		t.Errorf("joined node has the control-plane role: %v", node.Labels)
	}

	// A pod on the joined node, its logs and an exec through the apiserver.
	n.createPod(t, "joined-once", corev1.RestartPolicyNever, "hostname")
	p := n.waitPod(t, "joined-once", "succeeds", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if p.Spec.NodeName != n.name {
		t.Fatalf("pod ran on %q, want the joined node %q", p.Spec.NodeName, n.name)
	}
	if out := n.s.Kubectl(t, "logs", "joined-once"); out != "joined-once\n" {
		t.Errorf("kubectl logs: %q", out)
	}
	n.createPod(t, "joined-web", corev1.RestartPolicyAlways, "serve-http", "--port", "8080")
	n.waitPod(t, "joined-web", "runs", podRunning)
	if out := n.s.Kubectl(t, "exec", "joined-web", "--", "/agnhost-lite", "hostname"); out != "joined-web\n" {
		t.Errorf("kubectl exec: %q", out)
	}

	// The kubelet's serving certificate came through an approved kubelet-serving CSR.
	csrs, err := n.s.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var signers []string
	for _, c := range csrs.Items {
		if len(c.Status.Certificate) > 0 {
			signers = append(signers, c.Spec.SignerName+" by "+c.Spec.Username)
		}
	}
	want := []string{"kubernetes.io/kube-apiserver-client-kubelet by system:bootstrap:", "kubernetes.io/kubelet-serving by system:node:" + n.name}
	for _, w := range want {
		found := false
		for _, s := range signers {
			found = found || strings.HasPrefix(s, w)
		}
		if !found {
			t.Errorf("no issued CSR %q among %v", w, signers)
		}
	}

	// A restart reuses the credentials: no new CSR.
	stop()
	stop = startAgent()
	// Logs are served again once the new agent's kubelet API runs.
	var out string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		out, err = n.s.KubectlErr("", "", "logs", "joined-once")
		return err == nil, nil
	})
	if err != nil || out != "joined-once\n" {
		t.Fatalf("kubectl logs after the agent restarted: %q, %v", out, err)
	}
	again, err := n.s.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Items) != len(csrs.Items) {
		t.Errorf("the restarted agent made %d new CSRs", len(again.Items)-len(csrs.Items))
	}
}
