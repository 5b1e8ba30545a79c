package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// startSim runs `skiff sim` for one node named <prefix>0 in a process of its own,
// which the test kills to make the node's Lease expire.
func startSim(t *testing.T, s *framework.Server, prefix string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(s.Bin, "sim", "--nodes=1", "--name-prefix="+prefix, "--kubeconfig="+s.Kubeconfig)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func hasNodeTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

// TestNodeIPAMAndCordon: every node gets a /24 of the cluster CIDR of its own, and
// cordon mirrors spec.unschedulable as the unschedulable taint.
func TestNodeIPAMAndCordon(t *testing.T) {
	s := framework.Start(t, "--sim-nodes=3", "--disable-scheduler")
	ctx := ctxT(t)
	_, cluster, _ := net.ParseCIDR("10.42.0.0/16")
	eventually(t, time.Minute, func() error {
		seen := map[string]string{}
		for i := 0; i < 3; i++ {
			n, err := s.Client.CoreV1().Nodes().Get(ctx, fmt.Sprintf("skiff-sim-%d", i), metav1.GetOptions{})
			if err != nil {
				return err
			}
			ip, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
			if err != nil {
				return fmt.Errorf("node %s podCIDR %q: %v", n.Name, n.Spec.PodCIDR, err)
			}
			if ones, _ := cidr.Mask.Size(); ones != 24 || !cluster.Contains(ip) || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
				return fmt.Errorf("node %s podCIDR %s podCIDRs %v", n.Name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
			}
			if other, dup := seen[n.Spec.PodCIDR]; dup {
				t.Fatalf("nodes %s and %s share podCIDR %s", other, n.Name, n.Spec.PodCIDR)
			}
			seen[n.Spec.PodCIDR] = n.Name
		}
		return nil
	})

	s.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		k.Run("cordon", "skiff-sim-0")
		eventually(t, 30*time.Second, func() error {
			n, err := s.Client.CoreV1().Nodes().Get(ctx, "skiff-sim-0", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !hasNodeTaint(n, corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule) {
				return fmt.Errorf("no unschedulable taint: %+v", n.Spec.Taints)
			}
			return nil
		})
		mustContain(t, k.Run("get", "node", "skiff-sim-0"), "SchedulingDisabled")
		k.Run("uncordon", "skiff-sim-0")
		eventually(t, 30*time.Second, func() error {
			n, err := s.Client.CoreV1().Nodes().Get(ctx, "skiff-sim-0", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if hasNodeTaint(n, corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule) {
				return fmt.Errorf("unschedulable taint still there: %+v", n.Spec.Taints)
			}
			return nil
		})
	})
}

// TestNodeLifecycleEviction: a node whose kubelet stops renewing its Lease becomes
// Unknown after the 40s grace period and is tainted unreachable; its pods are
// marked not ready, and those that do not tolerate the taint are evicted after
// their tolerationSeconds. A pod that names no toleration tolerates the taint for
// the DefaultTolerationSeconds admission plugin's 300s, so it outlasts the test.
// When the node is back, the taints go. (This test waits for the grace period once,
// about a minute.)
func TestNodeLifecycleEviction(t *testing.T) {
	s := framework.Start(t, "--sim-nodes=2", "--disable-scheduler")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := s.Client
	sim := startSim(t, s, "lost-")
	eventually(t, time.Minute, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "lost-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !nodeReady(n) {
			return fmt.Errorf("lost-0 not ready")
		}
		return nil
	})

	unreachable := func(seconds *int64) []corev1.Toleration {
		return []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}}
	}
	pods := map[string][]corev1.Toleration{
		"immediate": unreachable(ptr.To(int64(0))),
		"brief":     unreachable(ptr.To(int64(3))),
		"forever":   unreachable(nil),
		"defaulted": nil,
	}
	for name, tol := range pods {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: "lost-0", Tolerations: tol,
				Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}}}
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, time.Minute, func() error {
		for name := range pods {
			p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !podReady(p) {
				return fmt.Errorf("%s not ready yet", name)
			}
		}
		return nil
	})

	// The kubelet goes away.
	_ = sim.Process.Kill()
	_ = sim.Wait()
	eventually(t, 2*time.Minute, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "lost-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && (cond.Status != corev1.ConditionUnknown ||
				cond.Reason != "NodeStatusUnknown" || cond.Message != "Kubelet stopped posting node status.") {
				return fmt.Errorf("Ready: %+v", cond)
			}
		}
		if !hasNodeTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) ||
			!hasNodeTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule) {
			return fmt.Errorf("taints: %+v", n.Spec.Taints)
		}
		return nil
	})
	evicted := func(name string) error {
		p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if p.DeletionTimestamp == nil {
			return fmt.Errorf("%s not being deleted", name)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue && cond.Reason == "DeletionByTaintManager" {
				return nil
			}
		}
		return fmt.Errorf("%s deleted without the DisruptionTarget condition: %+v", name, p.Status.Conditions)
	}
	eventually(t, time.Minute, func() error {
		if err := evicted("immediate"); err != nil {
			return err
		}
		return evicted("brief")
	})
	for _, name := range []string{"defaulted", "forever"} {
		p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp != nil {
			t.Fatalf("the pod %s was evicted: %v %v", name, err, p.DeletionTimestamp)
		}
	}
	p, err := c.CoreV1().Pods("default").Get(ctx, "forever", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if podReady(p) {
		t.Fatalf("pod on an unreachable node still Ready: %+v", p.Status.Conditions)
	}
	eventually(t, 30*time.Second, func() error {
		evs, err := c.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=brief,reason=TaintManagerEviction"})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Message == "Marking for deletion Pod default/brief" && e.Source.Component == "taint-eviction-controller" {
				return nil
			}
		}
		return fmt.Errorf("no eviction event: %+v", evs.Items)
	})
	mustContain(t, s.Kubectl(t, "get", "node", "lost-0"), "NotReady")

	// The kubelet is back: Ready again, the taints go.
	startSim(t, s, "lost-")
	eventually(t, 2*time.Minute, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "lost-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !nodeReady(n) || len(n.Spec.Taints) != 0 {
			return fmt.Errorf("ready=%v taints=%+v", nodeReady(n), n.Spec.Taints)
		}
		return nil
	})
}
