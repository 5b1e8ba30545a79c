package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// TestMetricsTopAndNodeProxy: with the agent running a real pod, `kubectl top node`
// and `kubectl top pod` print the usage the apiserver's metrics.k8s.io reads from the
// kubelet, and nodes/proxy reaches the kubelet API.
func TestMetricsTopAndNodeProxy(t *testing.T) {
	n := kubeletStart(t)
	ctx := context.Background()
	n.s.Kubectl(t, "run", "web", "--image="+ctdAgnhostRef, "--image-pull-policy=Never", "--", "serve-http", "--port", "8080")
	n.waitPod(t, "web", "Running", podRunning)

	t.Run("NodeProxy", func(t *testing.T) {
		if out := n.s.Kubectl(t, "get", "--raw", "/api/v1/nodes/"+n.name+"/proxy/healthz"); out != "ok" {
			t.Errorf("nodes/proxy/healthz: %q", out)
		}
		raw := n.s.Kubectl(t, "get", "--raw", "/api/v1/nodes/"+n.name+"/proxy/stats/summary")
		var sum statsapi.Summary
		if err := json.Unmarshal([]byte(raw), &sum); err != nil {
			t.Fatalf("stats/summary: %v\n%s", err, raw)
		}
		found := false
		for _, p := range sum.Pods {
			found = found || (p.PodRef.Name == "web" && p.PodRef.Namespace == "default")
		}
		if sum.Node.NodeName != n.name || sum.Node.Memory == nil || !found {
			t.Errorf("stats/summary through nodes/proxy: node %q, pods %+v", sum.Node.NodeName, sum.Pods)
		}
		if out := n.s.Kubectl(t, "get", "--raw", "/api/v1/nodes/"+n.name+"/proxy/metrics/resource"); !strings.Contains(out, "node_cpu_usage_seconds_total") {
			t.Errorf("metrics/resource through nodes/proxy: %s", out)
		}
		// The name with the kubelet's own port is the same kubelet.
		if out := n.s.Kubectl(t, "get", "--raw", fmt.Sprintf("/api/v1/nodes/https:%s:%d/proxy/healthz", n.name, n.kubeletPort)); out != "ok" {
			t.Errorf("nodes/https:name:port/proxy/healthz: %q", out)
		}
		if out, err := n.s.KubectlErr("", "", "get", "--raw", "/api/v1/nodes/"+n.name+"/proxy/no/such/path"); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("nodes/proxy to a missing kubelet path: %v %s", err, out)
		}
	})

	t.Run("TopNode", func(t *testing.T) {
		var out string
		err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(context.Context) (bool, error) {
			var err error
			out, err = n.s.KubectlErr("", "", "top", "node", "--no-headers")
			return err == nil && strings.Contains(out, n.name), nil
		})
		if err != nil {
			t.Fatalf("kubectl top node: %s", out)
		}
		// NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)
		f := strings.Fields(strings.TrimSpace(out))
		if len(f) != 5 || f[0] != n.name || !strings.HasSuffix(f[3], "Mi") || f[3] == "0Mi" || !strings.HasSuffix(f[2], "%") {
			t.Errorf("kubectl top node: %q", out)
		}
		t.Logf("kubectl top node: %s", strings.TrimSpace(out))
		// A stock kubectl, when installed, reads the same API.
		for _, k := range n.s.Kubectls()[1:] {
			if out, err := n.s.KubectlErr(k, "", "top", "node", n.name, "--no-headers"); err != nil || !strings.HasPrefix(out, n.name+" ") {
				t.Errorf("%s top node: %v %q", k, err, out)
			}
			if out, err := n.s.KubectlErr(k, "", "top", "pod", "web", "--containers", "--no-headers"); err != nil || !strings.HasPrefix(out, "web ") {
				t.Errorf("%s top pod --containers: %v %q", k, err, out)
			}
		}
	})

	t.Run("TopPod", func(t *testing.T) {
		var out string
		err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(context.Context) (bool, error) {
			var err error
			out, err = n.s.KubectlErr("", "", "top", "pod", "-A", "--no-headers")
			return err == nil && strings.Contains(out, "web"), nil
		})
		if err != nil {
			t.Fatalf("kubectl top pod -A: %s", out)
		}
		// NAMESPACE NAME CPU(cores) MEMORY(bytes)
		f := strings.Fields(strings.TrimSpace(out))
		if len(f) != 4 || f[0] != "default" || f[1] != "web" || !strings.HasSuffix(f[2], "m") || !strings.HasSuffix(f[3], "Mi") {
			t.Errorf("kubectl top pod -A: %q", out)
		}
		out = n.s.Kubectl(t, "top", "pod", "web", "--containers", "--no-headers")
		// POD NAME CPU(cores) MEMORY(bytes)
		if f := strings.Fields(strings.TrimSpace(out)); len(f) != 4 || f[0] != "web" || f[1] != "web" {
			t.Errorf("kubectl top pod web --containers: %q", out)
		}
		if out := n.s.Kubectl(t, "top", "pod", "-l", "run=web", "--no-headers"); !strings.HasPrefix(out, "web ") {
			t.Errorf("kubectl top pod -l run=web: %q", out)
		}
		if out, err := n.s.KubectlErr("", "", "top", "pod", "-l", "run=nothing"); err != nil || !strings.Contains(out, "No resources found") {
			t.Errorf("kubectl top pod -l run=nothing: %v %q", err, out)
		}

		mc, err := metricsclient.NewForConfig(n.s.Config)
		if err != nil {
			t.Fatal(err)
		}
		pm, err := mc.MetricsV1beta1().PodMetricses("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pm.Containers) != 1 || pm.Containers[0].Name != "web" || pm.Containers[0].Usage.Memory().IsZero() ||
			pm.Window.Duration <= 0 || pm.Timestamp.IsZero() || pm.Labels["run"] != "web" {
			t.Errorf("pod metrics of web: %+v", pm)
		}
		nm, err := mc.MetricsV1beta1().NodeMetricses().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if nm.Usage.Cpu().IsZero() || nm.Usage.Memory().IsZero() || nm.Window.Duration <= 0 {
			t.Errorf("node metrics: %+v", nm)
		}
	})
}
