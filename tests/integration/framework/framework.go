// Package framework starts the real skiff binary for integration tests and gives them
// clients: client-go, the dynamic client, and kubectl (the embedded one, and the
// system's /usr/bin/kubectl when one is installed).
//
//	s := framework.Start(t)           // a fresh server on a temp data dir and free port
//	s.Client.CoreV1().Namespaces()…   // client-go
//	out := s.Kubectl(t, "get", "ns")   // embedded kubectl; s.EachKubectl for both
package framework

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Binary returns the skiff binary under test: $SKIFF_BIN, or bin/skiff built by make.
func Binary(t testing.TB) string {
	if b := os.Getenv("SKIFF_BIN"); b != "" {
		return b
	}
	_, file, _, _ := runtime.Caller(0)
	b := filepath.Join(filepath.Dir(file), "..", "..", "..", "bin", "skiff")
	if _, err := os.Stat(b); err != nil {
		t.Skipf("no skiff binary: run `make build` or set SKIFF_BIN (%v)", err)
	}
	return b
}

// Server is a running skiff server.
type Server struct {
	Bin        string
	DataDir    string
	Port       int
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	Log        *bytes.Buffer
	Args       []string
	// WithAgent runs the server's node agent (StartWithAgent); servers
	// run without one by default, since an agent runs real containers.
	WithAgent bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	logw *SyncWriter
	done chan struct{}
}

// Start runs a fresh server and stops it when the test ends.
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	s := &Server{Bin: Binary(t), DataDir: t.TempDir(), Args: extraArgs}
	s.Port = FreePort(t)
	s.Kubeconfig = filepath.Join(s.DataDir, "kubeconfig.yaml")
	s.start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// StartWithAgent runs a fresh server with its node agent (root, containerd
// and runc needed; the caller points the agent's state at temp dirs with
// --run-dir, --pod-log-dir, --cni-bridge, --cgroup-root, --proxy-pin-dir
// and --proxy-nftables-table, or passes --disable-proxy) and stops it when
// the test ends.
func StartWithAgent(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	s := &Server{Bin: Binary(t), DataDir: t.TempDir(), Args: extraArgs, WithAgent: true}
	s.Port = FreePort(t)
	s.Kubeconfig = filepath.Join(s.DataDir, "kubeconfig.yaml")
	s.start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// FreePort returns a TCP port on loopback that is free now.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	if err := s.run(); err != nil {
		t.Fatal(err)
	}
}

// Run starts a fresh server outside a test (for TestMain); Close stops it and removes
// its data dir.
func Run(bin string, extraArgs ...string) (*Server, error) {
	dir, err := os.MkdirTemp("", "skiff-it-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{Bin: bin, DataDir: dir, Port: port, Args: extraArgs, Kubeconfig: filepath.Join(dir, "kubeconfig.yaml")}
	if err := s.run(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Close stops a server made by Run and removes its data dir.
func (s *Server) Close() {
	s.terminate()
	os.RemoveAll(s.DataDir)
}

// Halt stops a server made by Run with SIGTERM and keeps its data dir.
func (s *Server) Halt() { s.terminate() }

// detach takes the running process out of s, so that exactly one caller stops it.
func (s *Server) detach() (*exec.Cmd, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	return cmd, done
}

// terminate sends SIGTERM and waits for the process, killing it after 30 seconds;
// it reports whether the server stopped by itself in time.
func (s *Server) terminate() bool {
	cmd, done := s.detach()
	if cmd == nil {
		return true
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return true
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return false
	}
}

// Resume starts a halted server again on its data dir and waits for /readyz.
func (s *Server) Resume() error {
	s.Client = nil
	return s.run()
}

// PID is the server's process id, or 0 when it is not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) run() error {
	args := append([]string{"server",
		"--data-dir", s.DataDir,
		"--https-listen-port", strconv.Itoa(s.Port),
		"--bind-address", "127.0.0.1",
		"--write-kubeconfig", s.Kubeconfig,
	}, s.Args...)
	if !s.WithAgent {
		args = append(args, "--disable-agent")
	}
	s.Log = &bytes.Buffer{}
	s.logw = &SyncWriter{W: s.Log}
	cmd := exec.Command(s.Bin, args...)
	cmd.Stdout = s.logw
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start skiff: %w", err)
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, make(chan struct{})
	s.mu.Unlock()
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	if err := s.waitReady(90 * time.Second); err != nil {
		s.Kill()
		return fmt.Errorf("server not ready: %v\n--- server log ---\n%s", err, tail(s.LogText(), 60))
	}
	return nil
}

// waitReady waits for the kubeconfig and for /readyz to say ok.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("server exited")
		default:
		}
		if err := s.connect(); err != nil {
			last = err
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			body, err := s.Client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Raw()
			cancel()
			if err == nil && string(body) == "ok" {
				if err = s.waitServiceAccounts(); err == nil {
					return nil
				}
			}
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %s: %v", timeout, last)
}

// waitServiceAccounts waits for the serviceaccount controller to have created the
// default ServiceAccount of the default namespace: until the controllers run, the
// ServiceAccount admission plugin refuses pods in namespaces that lack theirs.
func (s *Server) waitServiceAccounts() error {
	if slices.Contains(s.Args, "--disable-controller-manager") {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
	return err
}

func (s *Server) connect() error {
	if s.Client != nil {
		return nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	s.Config, s.Client, s.Dynamic = cfg, client, dyn
	return nil
}

// Stop sends SIGTERM and waits for a clean exit.
func (s *Server) Stop(t testing.TB) {
	if !s.terminate() {
		t.Errorf("server did not stop within 30s of SIGTERM\n%s", tail(s.LogText(), 30))
	}
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	cmd, done := s.detach()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same data dir (after Stop or Kill).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Client = nil
	s.start(t)
}

// Kubectl runs the embedded `skiff kubectl` and fails the test on error.
func (s *Server) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.KubectlErr(s.Bin, "", args...)
	if err != nil {
		t.Fatalf("skiff kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// KubectlErr runs one kubectl (path "" is the embedded one), with stdin, and returns
// combined output and the error.
func (s *Server) KubectlErr(kubectl, stdin string, args ...string) (string, error) {
	return s.KubectlEnv(kubectl, nil, stdin, args...)
}

// KubectlEnv is KubectlErr with extra environment variables (KUBE_EDITOR, …).
func (s *Server) KubectlEnv(kubectl string, env []string, stdin string, args ...string) (string, error) {
	var cmd *exec.Cmd
	if kubectl == s.Bin || kubectl == "" {
		cmd = exec.Command(s.Bin, append([]string{"kubectl"}, args...)...)
	} else {
		cmd = exec.Command(kubectl, args...)
	}
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+s.Kubeconfig, "HOME="+s.DataDir), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Kubectls lists the kubectl binaries to test with: the embedded one always, and the
// system's stock kubectl when it is installed.
func (s *Server) Kubectls() []string {
	ks := []string{s.Bin}
	if p, err := exec.LookPath("kubectl"); err == nil {
		ks = append(ks, p)
	}
	return ks
}

// EachKubectl runs fn as a subtest once per kubectl.
func (s *Server) EachKubectl(t *testing.T, fn func(t *testing.T, k *Kubectl)) {
	for _, kb := range s.Kubectls() {
		name := "embedded"
		if kb != s.Bin {
			name = "system"
		}
		t.Run(name, func(t *testing.T) { fn(t, &Kubectl{s: s, path: kb, t: t}) })
	}
}

// Kubectl is one kubectl binary bound to a server and a test.
type Kubectl struct {
	s    *Server
	path string
	t    *testing.T
}

// Path is the kubectl binary (the server's own binary for the embedded one).
func (k *Kubectl) Path() string { return k.path }

// Run runs kubectl and fails the test on error.
func (k *Kubectl) Run(args ...string) string {
	k.t.Helper()
	out, err := k.s.KubectlEnv(k.path, nil, "", args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs kubectl and returns its output and error.
func (k *Kubectl) Try(env []string, stdin string, args ...string) (string, error) {
	return k.s.KubectlEnv(k.path, env, stdin, args...)
}

// Stdin runs kubectl with stdin and fails the test on error.
func (k *Kubectl) Stdin(stdin string, args ...string) string {
	k.t.Helper()
	out, err := k.s.KubectlEnv(k.path, nil, stdin, args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// LogText returns what the server printed so far.
func (s *Server) LogText() string {
	return s.logw.String()
}

// Problems returns the last n error and warning lines the server logged (klog's
// E and W lines), for a failed run to show what the server saw.
func (s *Server) Problems(n int) string {
	var out []string
	for _, l := range strings.Split(s.LogText(), "\n") {
		if len(l) > 1 && (l[0] == 'E' || l[0] == 'W') && l[1] >= '0' && l[1] <= '9' {
			out = append(out, l)
		}
	}
	return tail(strings.Join(out, "\n"), n)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SyncWriter serializes writes to W, for output read while a process runs.
type SyncWriter struct {
	mu sync.Mutex
	W  *bytes.Buffer
}

func (s *SyncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.W.Write(p)
}

// String returns what was written so far.
func (s *SyncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.W.String()
}

// OutputError reports output that lacked what a test waited for.
type OutputError struct{ Out string }

func (e *OutputError) Error() string { return "output so far:\n" + e.Out }
