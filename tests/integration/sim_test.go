package integration

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestSimNodes: simulated nodes register Ready with capacity, renew their Leases and
// play the kubelet for pods bound to them, as the annotations script; `skiff sim`
// does the same from a process of its own.
func TestSimNodes(t *testing.T) {
	s := framework.Start(t, "--sim-nodes=2", "--disable-scheduler")
	ctx := ctxT(t)
	c := s.Client
	var first *metav1.MicroTime
	eventually(t, time.Minute, func() error {
		for i := 0; i < 2; i++ {
			n, err := c.CoreV1().Nodes().Get(ctx, fmt.Sprintf("skiff-sim-%d", i), metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !nodeReady(n) || n.Status.Allocatable.Cpu().String() != "32" || n.Labels["node.skiff.io/sim"] != "true" {
				return fmt.Errorf("node %s not ready or wrong: %+v", n.Name, n.Status.Conditions)
			}
		}
		l, err := c.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "skiff-sim-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		first = l.Spec.RenewTime
		return nil
	})

	pod := func(name string, annotations map[string]string, restart corev1.RestartPolicy) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec: corev1.PodSpec{NodeName: "skiff-sim-1", RestartPolicy: restart,
				Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}}}
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pod("runs", nil, corev1.RestartPolicyAlways)
	pod("fails", map[string]string{"sim.skiff.io/exit-after": "1s", "sim.skiff.io/exit-code": "3"}, corev1.RestartPolicyNever)
	pod("waits", map[string]string{"sim.skiff.io/not-ready": "true"}, corev1.RestartPolicyAlways)
	eventually(t, time.Minute, func() error {
		p, err := c.CoreV1().Pods("default").Get(ctx, "runs", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning || !podReady(p) || p.Status.PodIP == "" || p.Status.HostIP == "" {
			return fmt.Errorf("runs: %s ready=%v ip=%q", p.Status.Phase, podReady(p), p.Status.PodIP)
		}
		p, err = c.CoreV1().Pods("default").Get(ctx, "fails", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodFailed || len(p.Status.ContainerStatuses) != 1 ||
			p.Status.ContainerStatuses[0].State.Terminated == nil || p.Status.ContainerStatuses[0].State.Terminated.ExitCode != 3 {
			return fmt.Errorf("fails: %s %+v", p.Status.Phase, p.Status.ContainerStatuses)
		}
		p, err = c.CoreV1().Pods("default").Get(ctx, "waits", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning || podReady(p) {
			return fmt.Errorf("waits: %s ready=%v", p.Status.Phase, podReady(p))
		}
		return nil
	})
	out := s.Kubectl(t, "get", "pods", "-o", "wide")
	mustContain(t, out, "runs", "1/1", "Running", "skiff-sim-1", "fails", "Error", "waits", "0/1")

	// A pod asked to go is gone at once: no containers to stop.
	if err := c.CoreV1().Pods("default").Delete(ctx, "runs", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		_, err := c.CoreV1().Pods("default").Get(ctx, "runs", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("pod still there: %v", err)
	})

	// The Lease is renewed every 10 s.
	eventually(t, 30*time.Second, func() error {
		l, err := c.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "skiff-sim-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !l.Spec.RenewTime.After(first.Time) {
			return fmt.Errorf("lease not renewed since %v", first)
		}
		return nil
	})

	// `skiff sim` in a process of its own, with the admin kubeconfig.
	cmd := exec.Command(s.Bin, "sim", "--nodes=1", "--name-prefix=extra-", "--kubeconfig="+s.Kubeconfig)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, time.Minute, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "extra-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !nodeReady(n) {
			return fmt.Errorf("extra-0 not ready")
		}
		return nil
	})
	if _, err := exec.Command(s.Bin, "sim", "--nodes=0", "--kubeconfig="+s.Kubeconfig).CombinedOutput(); err == nil {
		t.Fatal("skiff sim --nodes=0 succeeded")
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
