package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/agent/containerd"
	"github.com/skiff-k8s/skiff/tests/integration/framework"
	"github.com/skiff-k8s/skiff/tests/nodetest"
)

// kubeletNode is a skiff server running its node agent, with every piece
// of the agent's state under the test's own directories and names.
type kubeletNode struct {
	s        *framework.Server
	name     string
	runDir   string
	bridge   string
	cidr     *net.IPNet
	podCIDR  *net.IPNet
	ctdSock  string
	cgroup   string
	agentDir string
	logDir   string
	// netnsDir holds the pods' namespaces: the node's own, as every
	// directory the agent writes.
	netnsDir string
	// imagesDir holds the tarballs the agent imports (both test images).
	imagesDir string
	// kubeletPort is the kubelet API's, free on the host (not 10250, which
	// a developer's skiff may hold).
	kubeletPort int
}

// kubeletFreeClusterCIDR picks a /16 in 10.200-10.250 that no route or
// address of the host uses, so the test never meets a developer's cni0.
func kubeletFreeClusterCIDR(t *testing.T) *net.IPNet {
	t.Helper()
	return kubeletFreeCIDR(t, 200, 250, "cluster")
}

// kubeletFreeServiceCIDR picks the node's service CIDR the same way, in
// 10.151-10.199: the service proxy's programs act for the whole host, so
// servers of tests running at once must not share ClusterIPs (nor the
// cluster DNS address, the range's 10th).
func kubeletFreeServiceCIDR(t *testing.T) *net.IPNet {
	t.Helper()
	return kubeletFreeCIDR(t, 151, 199, "service")
}

// kubeletFreeCIDR is a /16 10.<lo..hi>.0.0 no route or address of the host
// uses, in random order: tests of several checkouts may start at once.
func kubeletFreeCIDR(t *testing.T, lo, hi int, what string) *net.IPNet {
	t.Helper()
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	addrs, _ := exec.Command("ip", "-4", "addr").Output()
	for _, i := range rand.Perm(hi - lo + 1) {
		prefix := fmt.Sprintf("10.%d.", lo+i)
		if !strings.Contains(string(routes), prefix) && !strings.Contains(string(addrs), prefix) {
			_, n, _ := net.ParseCIDR(prefix + "0.0/16")
			return n
		}
	}
	t.Skipf("no free /16 in 10.%d.0.0-10.%d.0.0 for the test's %s CIDR", lo, hi, what)
	return nil
}

// kubeletStart runs `skiff server` with its agent (and extraArgs) and
// registers the cleanup of pods, containerd, network and cgroups. The
// node's cluster DNS listens on a free port, not on the host's 53.
func kubeletStart(t *testing.T, extraArgs ...string) *kubeletNode {
	t.Helper()
	ctdRequire(t)
	netRequireRoot(t)
	n := newKubeletNode(t, "e2e-", "skk")
	args := n.agentArgs(t)
	if !slices.Contains(extraArgs, "--cluster-dns-port") {
		args = append(args, "--cluster-dns-port", strconv.Itoa(framework.FreePort(t)))
	}
	if !slices.Contains(extraArgs, "--service-cidr") {
		args = append(args, "--service-cidr", kubeletFreeServiceCIDR(t).String())
	}
	n.s = framework.StartWithAgent(t, append(args, extraArgs...)...)
	n.agentDir = filepath.Join(n.s.DataDir, "agent")
	// Runs before the server stops: the kubelet tears the pods down.
	t.Cleanup(func() { n.deleteAllPods(t) })
	n.waitReady(t)
	return n
}

// newKubeletNode names a node's state after the test (name and bridge with
// the given prefixes, a free cluster CIDR, its own run, netns, log and image
// dirs) and registers its cleanup; agentArgs are the agent flags that put
// every piece of the agent there.
func newKubeletNode(t *testing.T, namePrefix, bridgePrefix string) *kubeletNode {
	t.Helper()
	images := t.TempDir()
	for _, f := range []string{"agnhost-lite.tar", "busybox.tar"} {
		if err := os.Symlink(filepath.Join(ctdImages(t), f), filepath.Join(images, f)); err != nil {
			t.Fatal(err)
		}
	}
	// containerd's socket lives in the run dir: keep its path short.
	runDir, err := os.MkdirTemp("", "skiff-kl-")
	if err != nil {
		t.Fatal(err)
	}
	n := &kubeletNode{
		name:      namePrefix + netRandomHex(t, 4),
		runDir:    runDir,
		bridge:    bridgePrefix + netRandomHex(t, 4),
		cidr:      kubeletFreeClusterCIDR(t),
		ctdSock:   filepath.Join(runDir, "containerd", "containerd.sock"),
		cgroup:    "/skiff-e2e-" + netRandomHex(t, 4),
		logDir:    filepath.Join(t.TempDir(), "pods"),
		netnsDir:  filepath.Join(runDir, "netns"),
		imagesDir: images,
	}
	n.kubeletPort = framework.FreePort(t)
	t.Cleanup(func() { n.cleanupNode(t) })
	return n
}

// agentArgs are the agent's flags for the node's own state.
func (n *kubeletNode) agentArgs(t *testing.T) []string {
	return []string{
		"--node-name", n.name,
		"--cluster-cidr", n.cidr.String(),
		"--cni-bridge", n.bridge,
		"--netns-dir", n.netnsDir,
		"--run-dir", n.runDir,
		"--pod-log-dir", n.logDir,
		"--cgroup-root", n.cgroup,
		"--images-dir", n.imagesDir,
		"--kubelet-port", strconv.Itoa(n.kubeletPort),
		// The service proxy's programs attach to the machine's root cgroup:
		// its pins and nftables table are the test's own.
		"--proxy-pin-dir", filepath.Join(n.runDir, "bpf"),
		"--proxy-nftables-table", "skiff-proxy-" + n.name,
		// Later flags (a test's own --eviction-hard) override it.
		"--eviction-hard", nodetest.EvictionHard,
	}
}

// waitReady waits for the node to be Ready with a podCIDR and the test image.
func (n *kubeletNode) waitReady(t *testing.T) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		node, err := n.s.Client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil || node.Spec.PodCIDR == "" {
			return false, nil
		}
		_, n.podCIDR, _ = net.ParseCIDR(node.Spec.PodCIDR)
		ready := false
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		hasImage := false
		for _, img := range node.Status.Images {
			for _, name := range img.Names {
				hasImage = hasImage || name == ctdAgnhostRef
			}
		}
		return ready && hasImage, nil
	})
	if err != nil {
		t.Fatalf("node %s not Ready with %s: %v\n%s", n.name, ctdAgnhostRef, err, n.s.LogText())
	}
}

// deleteAllPods deletes the test's pods and waits until the kubelet removed them.
func (n *kubeletNode) deleteAllPods(t *testing.T) {
	if err := nodetest.DeleteAllPods(context.Background(), n.s.Client, "default", 5); err != nil {
		t.Error(err)
	}
}

// cleanupNode removes what the agent leaves running on purpose (containerd
// and any container) and what the pods' networks made.
func (n *kubeletNode) cleanupNode(t *testing.T) {
	node := nodetest.Node{Name: n.name, RunDir: n.runDir, AgentDir: n.agentDir, NetnsDir: n.netnsDir,
		Bridge: n.bridge, PodCIDR: n.podCIDR, ClusterCIDR: n.cidr, Cgroup: n.cgroup}
	if err := node.Cleanup(); err != nil {
		t.Error(err)
	}
	if n.podCIDR != nil {
		if out, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(out), netCIDRPrefix(n.podCIDR)) {
			t.Errorf("iptables rules for %s left behind:\n%s", n.podCIDR, out)
		}
	}
}

// waitPod polls the pod until cond holds.
func (n *kubeletNode) waitPod(t *testing.T, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := n.s.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		status := "(never read)"
		if last != nil {
			status = fmt.Sprintf("%+v", last.Status)
		}
		t.Fatalf("pod %s: %s: %v\nstatus: %s\n%s", name, what, err, status, n.s.Kubectl(t, "get", "events"))
	}
	return last
}

func (n *kubeletNode) createPod(t *testing.T, name string, policy corev1.RestartPolicy, args ...string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 policy,
			TerminationGracePeriodSeconds: ptr.To(int64(10)),
			Containers:                    []corev1.Container{{Name: "c", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever, Args: args}},
		},
	}
	p, err := n.s.Client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func isTerminalPhase(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

func podRunning(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) > 0 &&
		p.Status.ContainerStatuses[0].State.Running != nil && p.Status.PodIP != ""
}

// httpGet fetches url, retrying while the server comes up.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	var body string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		c := http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200, nil
	})
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return body
}

// TestKubelet runs pods through `skiff server`'s own node agent: node
// registration, a served pod reachable from the host, exit codes, restarts
// with back-off, deletion, and re-adoption after kill -9 of skiff.
func TestKubelet(t *testing.T) {
	n := kubeletStart(t)
	ctx := context.Background()

	node, err := n.s.Client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels["node-role.kubernetes.io/control-plane"] != "true" || node.Status.NodeInfo.KernelVersion == "" ||
		!strings.HasPrefix(node.Status.NodeInfo.ContainerRuntimeVersion, "containerd://") ||
		node.Status.Capacity.Cpu().IsZero() || node.Status.Capacity.Memory().IsZero() || node.Status.Allocatable.Pods().Value() != 110 {
		t.Errorf("node as registered: labels %v, nodeInfo %+v, capacity %v, allocatable %v", node.Labels, node.Status.NodeInfo, node.Status.Capacity, node.Status.Allocatable)
	}
	if _, err := n.s.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n.name, metav1.GetOptions{}); err != nil {
		t.Errorf("node lease: %v", err)
	}

	// A served pod, through kubectl, reachable from the host on its pod IP.
	n.s.Kubectl(t, "run", "web", "--image="+ctdAgnhostRef, "--image-pull-policy=Never", "--", "serve-http", "--port", "8080")
	web := n.waitPod(t, "web", "Running", podRunning)
	if ip := net.ParseIP(web.Status.PodIP); !n.podCIDR.Contains(ip) {
		t.Errorf("pod IP %s is not in the node's podCIDR %s", ip, n.podCIDR)
	}
	if body := httpGet(t, "http://"+net.JoinHostPort(web.Status.PodIP, "8080")+"/"); !strings.Contains(body, `"hostname":"web"`) {
		t.Errorf("GET from web: %s", body)
	}
	cs := web.Status.ContainerStatuses[0]
	if !cs.Ready || cs.RestartCount != 0 || !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" || web.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("web status: %+v", web.Status)
	}

	t.Run("ExitCodeNever", func(t *testing.T) {
		n.createPod(t, "exit3", corev1.RestartPolicyNever, "exit", "3")
		p := n.waitPod(t, "exit3", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		term := p.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != 3 || term.Reason != "Error" {
			t.Errorf("exit3 container state: %+v", p.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("CrashLoopBackOff", func(t *testing.T) {
		n.createPod(t, "crash", corev1.RestartPolicyAlways, "exit", "1")
		p := n.waitPod(t, "crash", "CrashLoopBackOff", func(p *corev1.Pod) bool {
			if len(p.Status.ContainerStatuses) == 0 {
				return false
			}
			c := p.Status.ContainerStatuses[0]
			return c.RestartCount >= 1 && c.State.Waiting != nil && c.State.Waiting.Reason == "CrashLoopBackOff"
		})
		c := p.Status.ContainerStatuses[0]
		if c.LastTerminationState.Terminated == nil || c.LastTerminationState.Terminated.ExitCode != 1 || p.Status.Phase != corev1.PodRunning {
			t.Errorf("crash status: phase %s, container %+v", p.Status.Phase, c)
		}
	})

	t.Run("DeleteStopsContainer", func(t *testing.T) {
		n.createPod(t, "stopme", corev1.RestartPolicyAlways, "serve-http", "--port", "8080")
		p := n.waitPod(t, "stopme", "Running", podRunning)
		id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
		if err := n.s.Client.CoreV1().Pods("default").Delete(ctx, "stopme", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := n.s.Client.CoreV1().Pods("default").Get(ctx, "stopme", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Fatalf("pod stopme not removed: %v", err)
		}
		c, err := containerd.Connect(ctx, n.ctdSock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := c.LoadContainer(ctx, id)
			return errdefs.IsNotFound(err), nil
		})
		if err != nil {
			t.Errorf("container %s of the deleted pod is still in containerd", id)
		}
	})

	t.Run("EnvAndVolumes", func(t *testing.T) {
		_, err := n.s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"key": "from-configmap", "FROM_ENVFROM": "yes"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A service in the pod's namespace gives it service link variables.
		svc, err := n.s.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "env-svc"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "envvol", Labels: map[string]string{"app": "envvol"}},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Volumes: []corev1.Volume{
					{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
					{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				},
				InitContainers: []corev1.Container{{
					Name: "token", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
					Args: []string{"cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace"},
				}, {
					Name: "write", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
					Args:         []string{"write-file", "/scratch/f", "from-init"},
					VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
				}},
				Containers: []corev1.Container{{
					Name: "env", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
					Args: []string{"env"},
					Env: []corev1.EnvVar{
						{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "EXPANDED", Value: "x-$(POD)-$$(POD)"},
						{Name: "FROM_CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "key"}}},
						{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
					},
					EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				}, {
					Name: "vol", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
					Args:         []string{"cat", "/cfg/key"},
					VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}},
				}, {
					Name: "scratch", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
					Args:         []string{"cat", "/scratch/f"},
					VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
				}},
			},
		}
		p, err = n.s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p = n.waitPod(t, "envvol", "Succeeded", func(p *corev1.Pod) bool { return isTerminalPhase(p.Status.Phase) })
		if p.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("envvol: %+v", p.Status)
		}
		logs := func(container string) string {
			b, _ := os.ReadFile(filepath.Join(n.logDir, fmt.Sprintf("default_envvol_%s", p.UID), container, "0.log"))
			return string(b)
		}
		if l := logs("token"); !strings.Contains(l, " default") {
			t.Errorf("service account namespace file: %q", l)
		}
		env := logs("env")
		for _, want := range []string{"POD=envvol", "EXPANDED=x-envvol-$(POD)", "FROM_CM=from-configmap", "FROM_ENVFROM=yes", "APP=envvol", "KUBERNETES_SERVICE_HOST=",
			"ENV_SVC_SERVICE_HOST=" + svc.Spec.ClusterIP + "\n", "ENV_SVC_SERVICE_PORT_HTTP=8080", "ENV_SVC_PORT_8080_TCP=tcp://" + svc.Spec.ClusterIP + ":8080"} {
			if !strings.Contains(env, want) {
				t.Errorf("env lacks %s:\n%s", want, env)
			}
		}
		if l := logs("vol"); !strings.Contains(l, "from-configmap") {
			t.Errorf("configMap volume: %q", l)
		}
		if l := logs("scratch"); !strings.Contains(l, "from-init") {
			t.Errorf("emptyDir written by an init container: %q", l)
		}
	})

	t.Run("Probes", func(t *testing.T) {
		probe := func(h corev1.ProbeHandler) *corev1.Probe {
			return &corev1.Probe{ProbeHandler: h, PeriodSeconds: 1, FailureThreshold: 1}
		}
		mk := func(name string, readiness, liveness *corev1.Probe) {
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To(int64(2)),
					Containers: []corev1.Container{{
						Name: "c", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
						Args:           []string{"serve-http", "--port", "8080"},
						Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: readiness, LivenessProbe: liveness,
					}},
				},
			}
			if _, err := n.s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		mk("ready-http", probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}), nil)
		mk("unready-tcp", probe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9999)}}), nil)
		mk("unlive-exec", nil, probe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/agnhost-lite", "exit", "1"}}}))
		isReady := func(p *corev1.Pod) bool {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady {
					return c.Status == corev1.ConditionTrue
				}
			}
			return false
		}
		n.waitPod(t, "ready-http", "Ready through an httpGet probe", isReady)
		p := n.waitPod(t, "unready-tcp", "Running and probed", func(p *corev1.Pod) bool {
			return podRunning(p) && p.Status.ContainerStatuses[0].Started != nil && *p.Status.ContainerStatuses[0].Started
		})
		time.Sleep(3 * time.Second) // a few probe periods
		p = n.waitPod(t, "unready-tcp", "Running", podRunning)
		if isReady(p) || p.Status.ContainerStatuses[0].Ready {
			t.Errorf("pod with a failing tcpSocket readiness probe is ready: %+v", p.Status)
		}
		n.waitPod(t, "unlive-exec", "restarted by its failing liveness probe", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
	})

	t.Run("ActiveDeadline", func(t *testing.T) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "deadline"},
			Spec: corev1.PodSpec{
				ActiveDeadlineSeconds:         ptr.To(int64(2)),
				TerminationGracePeriodSeconds: ptr.To(int64(2)),
				Containers:                    []corev1.Container{{Name: "c", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever, Args: []string{"sleep", "infinity"}}},
			},
		}
		if _, err := n.s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p = n.waitPod(t, "deadline", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if p.Status.Reason != "DeadlineExceeded" {
			t.Errorf("deadline pod: reason %q", p.Status.Reason)
		}
	})

	t.Run("HostNetwork", func(t *testing.T) {
		port := framework.FreePort(t)
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "hostnet"},
			Spec: corev1.PodSpec{
				HostNetwork:                   true,
				TerminationGracePeriodSeconds: ptr.To(int64(2)),
				Containers: []corev1.Container{{Name: "c", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
					Args: []string{"serve-http", "--port", strconv.Itoa(port)}}},
			},
		}
		if _, err := n.s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p = n.waitPod(t, "hostnet", "Running", podRunning)
		if p.Status.PodIP != p.Status.HostIP {
			t.Errorf("hostNetwork pod IP %s, host IP %s", p.Status.PodIP, p.Status.HostIP)
		}
		httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	})

	t.Run("KubeletAPI", func(t *testing.T) {
		// Through the apiserver's proxy to the kubelet API: logs, exec, stats.
		out := n.s.Kubectl(t, "logs", "envvol", "-c", "vol")
		if !strings.Contains(out, "from-configmap") {
			t.Errorf("kubectl logs: %q", out)
		}
		out = n.s.Kubectl(t, "exec", "web", "--", "/agnhost-lite", "hostname")
		if strings.TrimSpace(out) != "web" {
			t.Errorf("kubectl exec hostname: %q", out)
		}
		// Directly, as the apiserver's kubelet client.
		tlsDir := filepath.Join(n.s.DataDir, "server", "tls")
		cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "client-kube-apiserver.crt"), filepath.Join(tlsDir, "client-kube-apiserver.key"))
		if err != nil {
			t.Fatal(err)
		}
		ca, err := os.ReadFile(filepath.Join(tlsDir, "server-ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}}}
		resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/stats/summary", n.kubeletPort))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sum statsapi.Summary
		if err := json.NewDecoder(resp.Body).Decode(&sum); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range sum.Pods {
			if p.PodRef.Name == "web" && p.Memory != nil && p.Memory.WorkingSetBytes != nil && *p.Memory.WorkingSetBytes > 0 {
				found = true
			}
		}
		if sum.Node.NodeName != n.name || !found {
			t.Errorf("stats/summary: %+v", sum)
		}
	})

	t.Run("ReadoptAfterKill9", func(t *testing.T) {
		// A pod sharing its PID namespace keeps its holder too.
		shared := n.createSpec(t, "shared", corev1.PodSpec{ShareProcessNamespace: ptr.To(true), Containers: []corev1.Container{
			agnhost("a", "sleep", "infinity"), busybox("b", "sleep 3600")}})
		n.waitPod(t, "shared", "both running", allRunning)
		holder := holderOf(t, "pod"+string(shared.UID))
		before := n.waitPod(t, "web", "Running", podRunning)
		id := before.Status.ContainerStatuses[0].ContainerID
		n.s.Kill()
		n.s.Restart(t)
		n.waitReady(t)
		// Give the new kubelet a full sync before looking.
		time.Sleep(3 * time.Second)
		after := n.waitPod(t, "web", "Running", podRunning)
		c := after.Status.ContainerStatuses[0]
		if c.ContainerID != id || c.RestartCount != 0 {
			t.Errorf("web after restart: container %s (was %s), restartCount %d", c.ContainerID, id, c.RestartCount)
		}
		httpGet(t, "http://"+net.JoinHostPort(after.Status.PodIP, "8080")+"/")
		p := n.waitPod(t, "shared", "both running", allRunning)
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount != 0 {
				t.Errorf("shared/%s restarted %d times", c.Name, c.RestartCount)
			}
		}
		if h := holderOf(t, "pod"+string(shared.UID)); h != holder {
			t.Errorf("shared's holder %d, was %d", h, holder)
		}
		pidOf(t, n.s.Kubectl(t, "exec", "shared", "-c", "b", "--", "ps"), "agnhost-lite sleep infinity")
	})
}
