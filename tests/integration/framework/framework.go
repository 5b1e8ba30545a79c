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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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

	mu   sync.Mutex
	cmd  *exec.Cmd
	logw *lockedWriter
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
	args := append([]string{"server",
		"--data-dir", s.DataDir,
		"--https-listen-port", strconv.Itoa(s.Port),
		"--bind-address", "127.0.0.1",
		"--write-kubeconfig", s.Kubeconfig,
		"--disable-agent",
	}, s.Args...)
	s.Log = &bytes.Buffer{}
	s.logw = &lockedWriter{w: s.Log}
	cmd := exec.Command(s.Bin, args...)
	cmd.Stdout = s.logw
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start skiff: %v", err)
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, make(chan struct{})
	s.mu.Unlock()
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	if err := s.waitReady(90 * time.Second); err != nil {
		s.Kill()
		t.Fatalf("server not ready: %v\n--- server log ---\n%s", err, tail(s.LogText(), 60))
	}
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
				return nil
			}
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %s: %v", timeout, last)
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
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("server did not stop within 30s of SIGTERM\n%s", tail(s.LogText(), 30))
	}
	s.mu.Lock()
	s.cmd = nil
	s.mu.Unlock()
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
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
	var cmd *exec.Cmd
	if kubectl == s.Bin || kubectl == "" {
		cmd = exec.Command(s.Bin, append([]string{"kubectl"}, args...)...)
	} else {
		cmd = exec.Command(kubectl, args...)
	}
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig, "HOME="+s.DataDir)
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
func (s *Server) EachKubectl(t *testing.T, fn func(t *testing.T, k func(args ...string) (string, error), kIn func(stdin string, args ...string) (string, error))) {
	for _, kb := range s.Kubectls() {
		name := "embedded"
		if kb != s.Bin {
			name = "system"
		}
		t.Run(name, func(t *testing.T) {
			fn(t, func(args ...string) (string, error) { return s.KubectlErr(kb, "", args...) },
				func(stdin string, args ...string) (string, error) { return s.KubectlErr(kb, stdin, args...) })
		})
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// LogText returns what the server printed so far.
func (s *Server) LogText() string {
	s.logw.mu.Lock()
	defer s.logw.mu.Unlock()
	return s.Log.String()
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
