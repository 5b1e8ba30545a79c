package integration

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestMetricsAPIWithoutKubelets: metrics.k8s.io is served by the apiserver itself
// (discovery, APIService, RBAC), and nodes whose kubelet cannot be reached have no
// metrics: lists leave them out, gets are NotFound as metrics-server answers.
func TestMetricsAPIWithoutKubelets(t *testing.T) {
	ctx := ctxT(t)
	rs, err := srv.Client.Discovery().ServerResourcesForGroupVersion("metrics.k8s.io/v1beta1")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]metav1.APIResource{}
	for _, r := range rs.APIResources {
		kinds[r.Name] = r
	}
	if n, p := kinds["nodes"], kinds["pods"]; n.Kind != "NodeMetrics" || n.Namespaced || p.Kind != "PodMetrics" || !p.Namespaced ||
		!slices.Equal(n.Verbs, []string{"get", "list"}) || !slices.Equal(p.Verbs, []string{"get", "list"}) {
		t.Fatalf("metrics.k8s.io/v1beta1 resources: %+v", rs.APIResources)
	}
	// The core group stays the one `kubectl get nodes` means.
	if out := srv.Kubectl(t, "api-resources", "--api-group=metrics.k8s.io", "--no-headers"); !strings.Contains(out, "NodeMetrics") || !strings.Contains(out, "PodMetrics") {
		t.Fatalf("kubectl api-resources: %s", out)
	}
	eventually(t, 30*time.Second, func() error {
		out, err := srv.KubectlErr("", "", "get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "jsonpath={.spec.groupPriorityMinimum} {.status.conditions[0].type}={.status.conditions[0].status}")
		if err != nil || out != "100 Available=True" {
			return fmt.Errorf("apiservice: %s %v", out, err)
		}
		return nil
	})

	// A node without a reachable kubelet: a closed loopback port.
	port := framework.FreePort(t)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "metrics-nokubelet", Labels: map[string]string{"metrics-test": "yes"}}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	node, err = srv.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}) // nodes keep their status on create
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Client.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{})
	})

	mc, err := metricsclient.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	list, err := mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "metrics-test=yes"})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("node metrics list: %v %+v", err, list)
	}
	_, err = mc.MetricsV1beta1().NodeMetricses().Get(ctx, node.Name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || err.Error() != `nodes.metrics.k8s.io "metrics-nokubelet" not found` {
		t.Fatalf("node metrics of a node without kubelet: %v", err)
	}
	_, err = mc.MetricsV1beta1().NodeMetricses().Get(ctx, "no-such-node", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `"no-such-node" not found`) {
		t.Fatalf("node metrics of a missing node: %v", err)
	}
	_, err = mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "a in (("})
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("bad label selector: %v", err)
	}
	_, err = mc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"})
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("bad field selector: %v", err)
	}

	ns := newNamespace(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "m"}},
		Spec: corev1.PodSpec{NodeName: node.Name, Containers: []corev1.Container{{Name: "c", Image: "skiff.test/busybox:1"}}}}
	if _, err := srv.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The metrics API reads pods from the watch cache, which may lag the
	// create by a moment ("p" not found, as for a missing pod).
	eventually(t, 10*time.Second, func() error {
		_, err := mc.MetricsV1beta1().PodMetricses(ns).Get(ctx, "p", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) || err.Error() != fmt.Sprintf(`pods.metrics.k8s.io "%s/p" not found`, ns) {
			return fmt.Errorf("pod metrics of a pod without metrics: %v", err)
		}
		return nil
	})
	_, err = mc.MetricsV1beta1().PodMetricses(ns).Get(ctx, "nope", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `"nope" not found`) {
		t.Fatalf("pod metrics of a missing pod: %v", err)
	}
	pl, err := mc.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=m"})
	if err != nil || len(pl.Items) != 0 {
		t.Fatalf("pod metrics list: %v %+v", err, pl)
	}

	// kubectl top says what upstream's says with no metrics.
	if out, err := srv.KubectlErr("", "", "top", "node", "-l", "metrics-test=yes"); err == nil || !strings.Contains(out, "metrics not available yet") {
		t.Errorf("kubectl top node: %v %s", err, out)
	}
	if out, err := srv.KubectlErr("", "", "top", "pod", "-n", ns); err == nil || !strings.Contains(out, "metrics not available yet") {
		t.Errorf("kubectl top pod: %v %s", err, out)
	}
	// Table output for kubectl get, with metrics-server's columns.
	if out := srv.Kubectl(t, "get", "nodes.metrics.k8s.io", "-l", "metrics-test=yes"); !strings.Contains(out, "No resources found") {
		t.Errorf("kubectl get nodes.metrics.k8s.io: %s", out)
	}

	// nodes/proxy to that node: 503 as upstream words it; unknown nodes 404; bad names 400.
	rc := srv.Client.CoreV1().RESTClient()
	res := rc.Get().AbsPath("/api/v1/nodes", node.Name, "proxy", "healthz").Do(ctx)
	var code int
	res.StatusCode(&code)
	if err := res.Error(); code != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "error trying to reach service") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("nodes/proxy to a closed kubelet: %d %v", code, err)
	}
	if err := rc.Get().AbsPath("/api/v1/nodes/no-such-node/proxy/healthz").Do(ctx).Error(); !apierrors.IsNotFound(err) {
		t.Errorf("nodes/proxy to a missing node: %v", err)
	}
	if err := rc.Get().AbsPath("/api/v1/nodes/a:b:c:d/proxy/healthz").Do(ctx).Error(); !apierrors.IsBadRequest(err) {
		t.Errorf("nodes/proxy with a bad name: %v", err)
	}

	// RBAC: view reads metrics and may not proxy to nodes; the role metrics-server installs exists.
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}}}
	if _, err := srv.Client.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{
		"list pods.metrics.k8s.io -n " + ns:   "yes",
		"get pods.metrics.k8s.io -n " + ns:    "yes",
		"list pods.metrics.k8s.io -n default": "no",
		"get nodes --subresource=proxy":       "no",
	} {
		out, _ := srv.KubectlErr("", "", append(strings.Fields("auth can-i "+args), "--as=alice")...)
		lines := strings.Split(strings.TrimSpace(out), "\n") // after any warning
		if lines[len(lines)-1] != want {
			t.Errorf("alice with view: can-i %s: %q, want %s", args, out, want)
		}
	}
	if _, err := srv.Client.RbacV1().ClusterRoles().Get(ctx, "system:aggregated-metrics-reader", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	view, err := srv.Client.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range view.Rules {
		if slices.Contains(r.APIGroups, "metrics.k8s.io") && slices.Contains(r.Resources, "pods") && slices.Contains(r.Verbs, "list") {
			found = true
		}
	}
	if !found {
		t.Errorf("view has no metrics.k8s.io rule: %+v", view.Rules)
	}
}

// TestMetricsAPIServiceTakenOver: a metrics-server installed over skiff's
// in-process metrics API keeps its APIService across restarts; with it gone,
// the in-process one comes back.
func TestMetricsAPIServiceTakenOver(t *testing.T) {
	s := framework.Start(t)
	const name = "v1beta1.metrics.k8s.io"
	get := func() (string, error) {
		return s.KubectlErr("", "", "get", "apiservice", name, "-o",
			`jsonpath={.spec.service.namespace}/{.spec.service.name} {.metadata.labels.kube-aggregator\.kubernetes\.io/automanaged}`)
	}
	eventually(t, 30*time.Second, func() error {
		if out, err := get(); err != nil || out != "/ onstart" {
			return fmt.Errorf("the local APIService: %q %v", out, err)
		}
		return nil
	})
	// What `kubectl apply -f metrics-server.yaml` does to it: the spec names
	// the Service; the labels it does not set stay.
	if out, err := s.KubectlErr("", `{"spec":{"service":{"namespace":"kube-system","name":"metrics-server","port":443},"insecureSkipTLSVerify":true,"caBundle":null}}`,
		"patch", "apiservice", name, "--type=merge", "--patch-file=/dev/stdin"); err != nil {
		t.Fatalf("patch: %v: %s", err, out)
	}
	s.Stop(t)
	s.Restart(t)
	// The start-up registration neither turns it local again nor deletes it:
	// it loses the automanaged label, and stays.
	eventually(t, 30*time.Second, func() error {
		if out, err := get(); err != nil || out != "kube-system/metrics-server " {
			return fmt.Errorf("after a restart: %q %v", out, err)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	if out, err := get(); err != nil || out != "kube-system/metrics-server " {
		t.Fatalf("after a restart, later: %q %v", out, err)
	}
	if out, err := s.KubectlErr("", "", "delete", "apiservice", name); err != nil {
		t.Fatalf("delete: %v: %s", err, out)
	}
	s.Stop(t)
	s.Restart(t)
	eventually(t, 30*time.Second, func() error {
		if out, err := get(); err != nil || out != "/ onstart" {
			return fmt.Errorf("the local APIService after metrics-server's went: %q %v", out, err)
		}
		return nil
	})
}
