package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
	"github.com/skiff-k8s/skiff/pkg/kubelet/server"
	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestKubeletServerThroughAPIServer runs the kubelet API (pkg/kubelet/server) with a
// fake pod behind it, registers it as a node's kubelet, and drives it with stock
// kubectl through the apiserver: logs, exec over WebSocket (translated to SPDY by the
// apiserver) and SPDY, exit codes, stdin, attach and port-forward. It needs no root.
func TestKubeletServerThroughAPIServer(t *testing.T) {
	// No controllers: nothing here needs them, and no pod of ours must be touched.
	srv := framework.Start(t, "--disable-controller-manager")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// ServiceAccount admission wants the namespace's default ServiceAccount, which the
	// (disabled) controller would have made.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}}
	if _, err := srv.Client.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(srv.DataDir, "server", "tls")
	crt, key := filepath.Join(t.TempDir(), "kubelet.crt"), filepath.Join(t.TempDir(), "kubelet.key")
	if err := server.EnsureServingCert(filepath.Join(tlsDir, "server-ca.crt"), filepath.Join(tlsDir, "server-ca.key"),
		crt, key, "ks-node", nil, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "ks-node", Containers: []corev1.Container{{Name: "c", Image: "example/none"}},
			AutomountServiceAccountToken: new(bool)},
	}
	host := &ksHost{}
	ks, err := server.New(server.Config{CertFile: crt, KeyFile: key, ClientCAFile: filepath.Join(tlsDir, "client-ca.crt"),
		Host: host, Runtime: ksRuntime{}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ks.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("kubelet server: %v", err)
		}
	})

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ks-node"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(ln.Addr().(*net.TCPAddr).Port)}}}}
	if _, err := srv.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	created, err := srv.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// kubectl port-forward and attach want a running pod.
	created.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
	if created, err = srv.Client.CoreV1().Pods("default").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	host.set(created)

	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		if out := k.Run("logs", "web", "--tail=1"); out != "hello from the kubelet\n" {
			t.Errorf("logs: %q", out)
		}
		if out := k.Run("logs", "-f", "web"); out != "first line\nhello from the kubelet\n" {
			t.Errorf("logs -f: %q", out)
		}
		if out, err := k.Try(nil, "", "logs", "web", "--previous"); err == nil || !strings.Contains(out, `previous terminated container "c" in pod "web" not found`) {
			t.Errorf("logs --previous: %v %q", err, out)
		}
		for _, mode := range []struct {
			name string
			env  []string
		}{{"websocket", nil}, {"spdy", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}}} {
			out, err := k.Try(mode.env, "", "exec", "web", "--", "echo", "hi", "there")
			if err != nil || out != "hi there\n" {
				t.Errorf("%s exec echo: %v %q", mode.name, err, out)
			}
			out, err = k.Try(mode.env, "some input", "exec", "-i", "web", "--", "cat")
			if err != nil || out != "some input" {
				t.Errorf("%s exec -i cat: %v %q", mode.name, err, out)
			}
			out, err = k.Try(mode.env, "", "exec", "web", "--", "fail")
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 7 {
				t.Errorf("%s exec fail: want exit code 7, got %v %q", mode.name, err, out)
			}
			if out, err := k.Try(mode.env, "", "attach", "web", "-c", "c"); err != nil || !strings.Contains(out, "attached") {
				t.Errorf("%s attach: %v %q", mode.name, err, out)
			}
		}
	})
	for _, bin := range srv.Kubectls() {
		ksPortForward(t, srv, bin)
	}
}

// ksPortForward runs `kubectl port-forward pod/web :8080` and talks through it.
func ksPortForward(t *testing.T, srv *framework.Server, bin string) {
	for _, mode := range []struct {
		name string
		env  []string
	}{{"websocket", nil}, {"spdy", []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}}} {
		t.Run("port-forward-"+mode.name+"-"+filepath.Base(bin), func(t *testing.T) {
			args := []string{"port-forward", "pod/web", ":8080"}
			if bin == srv.Bin {
				args = append([]string{"kubectl"}, args...)
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = append(append(cmd.Environ(), "KUBECONFIG="+srv.Kubeconfig, "HOME="+srv.DataDir), mode.env...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = cmd.Stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			ports := make(chan string, 1)
			go func() {
				re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if m := re.FindStringSubmatch(sc.Text()); m != nil {
						ports <- m[1]
					}
				}
			}()
			var port string
			select {
			case port = <-ports:
			case <-time.After(60 * time.Second):
				t.Fatal("kubectl port-forward did not start")
			}
			for i := range 2 {
				conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
				fmt.Fprintf(conn, "ping %d\n", i)
				line, err := bufio.NewReader(conn).ReadString('\n')
				conn.Close()
				if want := fmt.Sprintf("8080: ping %d\n", i); err != nil || line != want {
					t.Fatalf("through port-forward: %q %v, want %q", line, err, want)
				}
			}
		})
	}
}

// ksHost is a kubelet core with one pod whose container c has ID "cid".
type ksHost struct {
	mu  sync.Mutex
	pod *corev1.Pod
}

func (h *ksHost) set(p *corev1.Pod) { h.mu.Lock(); h.pod = p; h.mu.Unlock() }

func (h *ksHost) GetPodByName(ns, name string) (*corev1.Pod, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pod != nil && h.pod.Namespace == ns && h.pod.Name == name {
		return h.pod, true
	}
	return nil, false
}

func (h *ksHost) GetPods() []*corev1.Pod {
	h.mu.Lock()
	defer h.mu.Unlock()
	return []*corev1.Pod{h.pod}
}

func (h *ksHost) ContainerID(pod *corev1.Pod, c string, previous bool) (string, error) {
	if previous {
		return "", fmt.Errorf("previous terminated container %q in pod %q not found", c, pod.Name)
	}
	return "cid", nil
}

// PortForward echoes each line prefixed with the port.
func (h *ksHost) PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	sc := bufio.NewScanner(stream)
	for sc.Scan() {
		if _, err := fmt.Fprintf(stream, "%d: %s\n", port, sc.Text()); err != nil {
			return err
		}
	}
	return nil
}

func (h *ksHost) StatsSummary(ctx context.Context) (*statsapi.Summary, error) {
	return &statsapi.Summary{Node: statsapi.NodeStats{NodeName: "ks-node"}}, nil
}

// ksRuntime runs echo, cat and fail (exit 7), attaches with a fixed line and has a
// two-line log.
type ksRuntime struct{}

func (ksRuntime) Exec(ctx context.Context, id string, cmd []string, o runtime.ExecOptions) (int, error) {
	switch cmd[0] {
	case "echo":
		fmt.Fprintln(o.Stdout, strings.Join(cmd[1:], " "))
		return 0, nil
	case "cat":
		if o.Stdin == nil {
			return 1, nil
		}
		_, err := io.Copy(o.Stdout, o.Stdin)
		return 0, err
	case "fail":
		return 7, nil
	}
	return -1, fmt.Errorf("no such command %q", cmd[0])
}

func (ksRuntime) Attach(ctx context.Context, id string, o runtime.ExecOptions) error {
	_, err := fmt.Fprintln(o.Stdout, "attached")
	return err
}

func (ksRuntime) ReadContainerLogs(ctx context.Context, id string, o logs.ReadOptions, stdout, stderr io.Writer) error {
	lines := []string{"first line\n", "hello from the kubelet\n"}
	if o.Tail != nil && int(*o.Tail) < len(lines) {
		lines = lines[len(lines)-int(*o.Tail):]
	}
	for _, l := range lines {
		if _, err := io.WriteString(stdout, l); err != nil {
			return err
		}
	}
	return nil
}
