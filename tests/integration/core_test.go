package integration

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1.0"}}}}
}

// TestPodDefaultsAndFieldSelectors: a pod gets upstream's defaults, and the pod field
// selectors the scheduler and kubelet rely on work.
func TestPodDefaultsAndFieldSelectors(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	p, err := srv.Client.CoreV1().Pods(ns).Create(ctx, testPod("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Spec.Containers[0]
	if p.Spec.RestartPolicy != corev1.RestartPolicyAlways || p.Spec.DNSPolicy != corev1.DNSClusterFirst ||
		p.Spec.SchedulerName != "default-scheduler" || p.Spec.TerminationGracePeriodSeconds == nil || *p.Spec.TerminationGracePeriodSeconds != 30 ||
		c.ImagePullPolicy != corev1.PullIfNotPresent || c.TerminationMessagePath != "/dev/termination-log" ||
		p.Status.Phase != corev1.PodPending || p.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Fatalf("pod defaults: %+v / %+v / %+v", p.Spec, c, p.Status)
	}
	latest, err := srv.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "latest"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil || latest.Spec.Containers[0].ImagePullPolicy != corev1.PullAlways {
		t.Fatalf("untagged image pull policy: %v %v", err, latest.Spec.Containers[0].ImagePullPolicy)
	}
	// Bind one pod through the binding subresource, then select by node.
	if err := srv.Client.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Target: corev1.ObjectReference{Kind: "Node", Name: "node-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = srv.Client.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Target: corev1.ObjectReference{Kind: "Node", Name: "node-b"}}, metav1.CreateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("second binding: %v, want 409", err)
	}
	for sel, want := range map[string]string{"spec.nodeName=node-a": "web", "spec.nodeName=": "latest",
		"status.phase=Pending,spec.schedulerName=default-scheduler,spec.nodeName=node-a": "web"} {
		l, err := srv.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil || len(l.Items) != 1 || l.Items[0].Name != want {
			t.Fatalf("field selector %q: %v %v", sel, err, l)
		}
	}
	// Spec is immutable but for the few fields upstream allows.
	p, _ = srv.Client.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	if _, err := srv.Client.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "pod updates may not change fields other than") {
		t.Fatalf("pod spec update: %v", err)
	}
}

// TestPodStreamingWithoutKubelet: log, exec, attach and port-forward answer with a
// clear error, quickly, when no kubelet can serve them.
func TestPodStreamingWithoutKubelet(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	if _, err := srv.Client.CoreV1().Pods(ns).Create(ctx, testPod("unscheduled"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A node whose kubelet port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gone-" + ns},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}}}}
	if _, err := srv.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bound := testPod("bound")
	bound.Spec.NodeName = node.Name
	if _, err := srv.Client.CoreV1().Pods(ns).Create(ctx, bound, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"logs", "unscheduled", "-n", ns}, "does not have a host assigned"},
			{[]string{"exec", "unscheduled", "-n", ns, "--", "true"}, "does not have a host assigned"},
			{[]string{"logs", "bound", "-n", ns}, node.Name},
			{[]string{"exec", "bound", "-n", ns, "--", "true"}, "connection refused"},
		} {
			start := time.Now()
			out, err := k.Try(nil, "", c.args...)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("kubectl %s: err %v, output lacks %q:\n%s", strings.Join(c.args, " "), err, c.want, out)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("kubectl %s took %v: it should fail fast", strings.Join(c.args, " "), d)
			}
		}
	})
}

// TestServiceAllocation: concurrent creates get distinct ClusterIPs and NodePorts,
// a taken IP is refused, delete releases, and nothing is reused across a restart.
func TestServiceAllocation(t *testing.T) {
	s := framework.Start(t)
	ctx := ctxT(t)
	svc := func(name string, typ corev1.ServiceType) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}}}
	}
	ips, ports := map[string]string{}, map[int32]string{}
	var mu sync.Mutex
	record := func(t *testing.T, out *corev1.Service) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := ips[out.Spec.ClusterIP]; dup {
			t.Errorf("ClusterIP %s given to %s and %s", out.Spec.ClusterIP, prev, out.Name)
		}
		ips[out.Spec.ClusterIP] = out.Name
		for _, p := range out.Spec.Ports {
			if p.NodePort == 0 {
				continue
			}
			if prev, dup := ports[p.NodePort]; dup {
				t.Errorf("NodePort %d given to %s and %s", p.NodePort, prev, out.Name)
			}
			ports[p.NodePort] = out.Name
		}
	}
	create := func(prefix string, n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out, err := s.Client.CoreV1().Services("default").Create(ctx, svc(fmt.Sprintf("%s-%d", prefix, i), corev1.ServiceTypeNodePort), metav1.CreateOptions{})
				if err != nil {
					t.Errorf("create: %v", err)
					return
				}
				if !strings.HasPrefix(out.Spec.ClusterIP, "10.43.") || out.Spec.Ports[0].NodePort < 30000 || out.Spec.Ports[0].NodePort > 32767 {
					t.Errorf("%s: clusterIP %s nodePort %d", out.Name, out.Spec.ClusterIP, out.Spec.Ports[0].NodePort)
				}
				record(t, out)
			}(i)
		}
		wg.Wait()
	}
	create("before", 30)
	taken := ips
	var anyIP string
	for ip := range taken {
		anyIP = ip
		break
	}
	clash := svc("clash", corev1.ServiceTypeClusterIP)
	clash.Spec.ClusterIP = anyIP
	if _, err := s.Client.CoreV1().Services("default").Create(ctx, clash, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("taken ClusterIP: %v", err)
	}
	s.Kill()
	s.Restart(t)
	create("after", 30)
	// Delete releases: the freed IP can be asked for again.
	freed, err := s.Client.CoreV1().Services("default").Get(ctx, "before-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Client.CoreV1().Services("default").Delete(ctx, "before-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := svc("again", corev1.ServiceTypeClusterIP)
	again.Spec.ClusterIP = freed.Spec.ClusterIP
	eventually(t, 10*time.Second, func() error {
		_, err := s.Client.CoreV1().Services("default").Create(ctx, again, metav1.CreateOptions{})
		return err
	})
	headless := svc("headless", corev1.ServiceTypeClusterIP)
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	if out, err := s.Client.CoreV1().Services("default").Create(ctx, headless, metav1.CreateOptions{}); err != nil || out.Spec.ClusterIP != "None" {
		t.Fatalf("headless: %v %v", err, out)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	body, err := srv.Client.Discovery().RESTClient().Get().AbsPath("/metrics").Do(ctxT(t)).Raw()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"apiserver_request_total", "apiserver_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}
