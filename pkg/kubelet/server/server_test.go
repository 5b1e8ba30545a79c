package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	clientexec "k8s.io/client-go/util/exec"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
	"github.com/skiff-k8s/skiff/pkg/pki"
)

// fakeHost knows one pod, web in ns, with container c.
type fakeHost struct {
	mu       sync.Mutex
	previous bool
}

var webPod = &corev1.Pod{
	ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid-1"},
	Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
}

func (h *fakeHost) GetPodByName(ns, name string) (*corev1.Pod, bool) {
	if ns == "ns" && name == "web" {
		return webPod, true
	}
	return nil, false
}

func (h *fakeHost) GetPods() []*corev1.Pod { return []*corev1.Pod{webPod} }

func (h *fakeHost) ContainerID(pod *corev1.Pod, c string, previous bool) (string, error) {
	h.mu.Lock()
	h.previous = previous
	h.mu.Unlock()
	if previous {
		return "", fmt.Errorf("previous terminated container %q in pod %q not found", c, pod.Name)
	}
	return "id-" + c, nil
}

// PortForward answers "<port>:" followed by what it reads, upper-cased, per line.
func (h *fakeHost) PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	sc := bufio.NewScanner(stream)
	for sc.Scan() {
		if _, err := fmt.Fprintf(stream, "%d:%s\n", port, strings.ToUpper(sc.Text())); err != nil {
			return err
		}
	}
	return nil
}

func (h *fakeHost) StatsSummary(ctx context.Context) (*statsapi.Summary, error) {
	ts := metav1.NewTime(time.Unix(1700000000, 0))
	u := func(v uint64) *uint64 { return &v }
	return &statsapi.Summary{
		Node: statsapi.NodeStats{NodeName: "n1", CPU: &statsapi.CPUStats{Time: ts, UsageCoreNanoSeconds: u(2_500_000_000)},
			Memory: &statsapi.MemoryStats{Time: ts, WorkingSetBytes: u(1 << 20)}},
		Pods: []statsapi.PodStats{{PodRef: statsapi.PodReference{Name: "web", Namespace: "ns", UID: "uid-1"},
			CPU: &statsapi.CPUStats{Time: ts, UsageCoreNanoSeconds: u(1_000_000_000)}, Memory: &statsapi.MemoryStats{Time: ts, WorkingSetBytes: u(4096)},
			Containers: []statsapi.ContainerStats{{Name: "c", StartTime: ts, CPU: &statsapi.CPUStats{Time: ts, UsageCoreNanoSeconds: u(500_000_000)},
				Memory: &statsapi.MemoryStats{Time: ts, WorkingSetBytes: u(2048)}}}}},
	}, nil
}

// fakeRuntime: exec of "shout" copies stdin upper-cased to stdout and "done" to
// stderr; "fail" exits 3. Logs write a fixed line and record the options.
type fakeRuntime struct {
	mu       sync.Mutex
	logOpts  logs.ReadOptions
	logID    string
	attached bool
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, cmd []string, o runtime.ExecOptions) (int, error) {
	if id != "id-c" {
		return -1, fmt.Errorf("unexpected container %s", id)
	}
	switch cmd[0] {
	case "shout":
		b, err := io.ReadAll(o.Stdin)
		if err != nil {
			return -1, err
		}
		fmt.Fprint(o.Stdout, strings.ToUpper(string(b))+strings.Join(cmd[1:], " "))
		fmt.Fprint(o.Stderr, "done")
		return 0, nil
	case "fail":
		return 3, nil
	case "size":
		if !o.TTY || o.Resize == nil {
			return 1, nil
		}
		sz := <-o.Resize
		fmt.Fprintf(o.Stdout, "%dx%d", sz.Width, sz.Height)
		return 0, nil
	}
	return -1, errors.New("no such command")
}

func (f *fakeRuntime) Attach(ctx context.Context, id string, o runtime.ExecOptions) error {
	f.mu.Lock()
	f.attached = true
	f.mu.Unlock()
	_, err := io.WriteString(o.Stdout, "attached")
	return err
}

func (f *fakeRuntime) ReadContainerLogs(ctx context.Context, id string, o logs.ReadOptions, stdout, stderr io.Writer) error {
	f.mu.Lock()
	f.logOpts, f.logID = o, id
	f.mu.Unlock()
	_, _ = io.WriteString(stdout, "out\n")
	_, err := io.WriteString(stderr, "err\n")
	return err
}

type env struct {
	url     string
	bundle  *pki.Bundle
	rt      *fakeRuntime
	host    *fakeHost
	caPool  *x509.CertPool
	caPEM   []byte
	servers *Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	b, err := pki.Ensure(dir, pki.Names{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	crt, key := filepath.Join(dir, "kubelet.crt"), filepath.Join(dir, "kubelet.key")
	if err := EnsureServingCert(b.ServerCA, b.ServerKey, crt, key, "n1", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	e := &env{bundle: b, rt: &fakeRuntime{}, host: &fakeHost{}}
	s, err := New(Config{CertFile: crt, KeyFile: key, ClientCAFile: b.ClientCA, Host: e.host, Runtime: e.rt})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.TLS = s.TLSConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	e.url = ts.URL
	if e.caPEM, err = os.ReadFile(b.ServerCA); err != nil {
		t.Fatal(err)
	}
	e.caPool = x509.NewCertPool()
	e.caPool.AppendCertsFromPEM(e.caPEM)
	return e
}

// client authenticates with the given certificate files ("" for none).
func (e *env) client(t *testing.T, certFile, keyFile string) *http.Client {
	cfg := &tls.Config{RootCAs: e.caPool}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

func (e *env) apiserver(t *testing.T) *http.Client {
	return e.client(t, e.bundle.KubeletClientCert, e.bundle.KubeletClientKey)
}

// restConfig is the apiserver's kubelet-client identity as a client-go config.
func (e *env) restConfig(t *testing.T) *restclient.Config {
	crt, err := os.ReadFile(e.bundle.KubeletClientCert)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(e.bundle.KubeletClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return &restclient.Config{Host: e.url, TLSClientConfig: restclient.TLSClientConfig{CAData: e.caPEM, CertData: crt, KeyData: key}}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	if code, body := get(t, e.client(t, "", ""), e.url+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("healthz without certificate: %d %q", code, body)
	}
	if code, _ := get(t, e.client(t, "", ""), e.url+"/pods"); code != http.StatusUnauthorized {
		t.Fatalf("no certificate: %d, want 401", code)
	}
	code, body := get(t, e.client(t, e.bundle.ControllerManagerCert, e.bundle.ControllerManagerKey), e.url+"/containerLogs/ns/web/c")
	if code != http.StatusForbidden || !strings.Contains(body, "Forbidden (user=system:kube-controller-manager, verb=get, resource=nodes, subresource(s)=[log])") {
		t.Fatalf("other user: %d %q", code, body)
	}
	if code, body := get(t, e.apiserver(t), e.url+"/pods"); code != 200 || !strings.Contains(body, `"name":"web"`) {
		t.Fatalf("apiserver: %d %q", code, body)
	}
	if code, _ := get(t, e.client(t, e.bundle.AdminCert, e.bundle.AdminKey), e.url+"/pods"); code != 200 {
		t.Fatalf("system:masters: %d", code)
	}
	// A certificate from another CA is refused in the handshake.
	other, err := pki.Ensure(t.TempDir(), pki.Names{})
	if err != nil {
		t.Fatal(err)
	}
	// The handshake fails (with TLS 1.3 the client may only learn it when it reads, and
	// its transport may retry); the request must never be served as that user.
	if resp, err := e.client(t, other.KubeletClientCert, other.KubeletClientKey).Get(e.url + "/pods"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("certificate from an unknown CA: %d", resp.StatusCode)
		}
		t.Logf("certificate from an unknown CA: %d", resp.StatusCode)
	}
}

func TestParseLogQuery(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	q, _ := url.ParseQuery("follow=true&timestamps=true&tailLines=5&limitBytes=100&sinceSeconds=60&previous=1")
	lr, err := parseLogQuery(q, now)
	if err != nil {
		t.Fatal(err)
	}
	if !lr.Read.Follow || !lr.Read.Timestamps || !lr.Previous || *lr.Read.Tail != 5 || *lr.Read.LimitBytes != 100 || !lr.Read.Since.Equal(now.Add(-time.Minute)) {
		t.Fatalf("got %+v", lr)
	}
	q, _ = url.ParseQuery("sinceTime=2026-01-01T00:00:00Z&stream=Stdout")
	if lr, err = parseLogQuery(q, now); err != nil || !lr.Read.Since.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || lr.Stream != "Stdout" {
		t.Fatalf("got %+v %v", lr, err)
	}
	for _, bad := range []string{"sinceSeconds=0", "tailLines=-1", "limitBytes=0", "sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z", "follow=maybe", "stream=Both", "stream=Stderr&tailLines=1"} {
		q, _ := url.ParseQuery(bad)
		if _, err := parseLogQuery(q, now); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestContainerLogs(t *testing.T) {
	e := newEnv(t)
	c := e.apiserver(t)
	code, body := get(t, c, e.url+"/containerLogs/ns/web/c?tailLines=2&timestamps=true")
	if code != 200 || body != "out\nerr\n" {
		t.Fatalf("logs: %d %q", code, body)
	}
	e.rt.mu.Lock()
	if e.rt.logID != "id-c" || *e.rt.logOpts.Tail != 2 || !e.rt.logOpts.Timestamps {
		t.Fatalf("runtime got %s %+v", e.rt.logID, e.rt.logOpts)
	}
	e.rt.mu.Unlock()
	if code, body := get(t, c, e.url+"/containerLogs/ns/web/c?stream=Stderr"); code != 200 || body != "err\n" {
		t.Fatalf("stream=Stderr: %d %q", code, body)
	}
	for path, want := range map[string]int{
		"/containerLogs/ns/nope/c":               404,
		"/containerLogs/ns/web/nope":             404,
		"/containerLogs/ns/web/c?sinceSeconds=0": 422,
		"/containerLogs/ns/web/c?previous=true":  400,
	} {
		if code, body := get(t, c, e.url+path); code != want {
			t.Errorf("%s: %d %q, want %d", path, code, body, want)
		}
	}
}

func TestStatsAndMetrics(t *testing.T) {
	e := newEnv(t)
	c := e.apiserver(t)
	if code, body := get(t, c, e.url+"/stats/summary"); code != 200 || !strings.Contains(body, `"nodeName":"n1"`) {
		t.Fatalf("summary: %d %q", code, body)
	}
	code, body := get(t, c, e.url+"/metrics/resource")
	for _, want := range []string{
		"# TYPE container_cpu_usage_seconds_total counter\n",
		`container_cpu_usage_seconds_total{container="c",namespace="ns",pod="web"} 0.5 1700000000000`,
		`container_memory_working_set_bytes{container="c",namespace="ns",pod="web"} 2048 1700000000000`,
		"node_cpu_usage_seconds_total 2.5 1700000000000\n",
		"node_memory_working_set_bytes 1048576 1700000000000\n",
		`pod_memory_working_set_bytes{namespace="ns",pod="web"} 4096 1700000000000`,
		"resource_scrape_error 0\n",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func execURL(e *env, cmd ...string) string {
	q := url.Values{"command": cmd, "input": {"1"}, "output": {"1"}, "error": {"1"}}
	return e.url + "/exec/ns/web/c?" + q.Encode()
}

func runExec(t *testing.T, ex remotecommand.Executor, stdin string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), err
}

func testExec(t *testing.T, newExec func(*restclient.Config, string) (remotecommand.Executor, error)) {
	e := newEnv(t)
	ex, err := newExec(e.restConfig(t), execURL(e, "shout", "now"))
	if err != nil {
		t.Fatal(err)
	}
	out, errs, err := runExec(t, ex, "hello ")
	if err != nil || out != "HELLO now" || errs != "done" {
		t.Fatalf("exec: out %q err %q: %v", out, errs, err)
	}
	ex, err = newExec(e.restConfig(t), execURL(e, "fail"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runExec(t, ex, "")
	var ce clientexec.CodeExitError
	if !errors.As(err, &ce) || ce.Code != 3 {
		t.Fatalf("exit code: %v (%T)", err, err)
	}
}

func TestExecWebSocketV5(t *testing.T) {
	testExec(t, func(c *restclient.Config, u string) (remotecommand.Executor, error) {
		return remotecommand.NewWebSocketExecutor(c, "GET", u)
	})
}

func TestExecSPDY(t *testing.T) {
	testExec(t, func(c *restclient.Config, u string) (remotecommand.Executor, error) {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		return remotecommand.NewSPDYExecutor(c, "POST", pu)
	})
}

func TestAttachSPDY(t *testing.T) {
	e := newEnv(t)
	u, _ := url.Parse(e.url + "/attach/ns/web/c?output=1")
	ex, err := remotecommand.NewSPDYExecutor(e.restConfig(t), "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out}); err != nil || out.String() != "attached" {
		t.Fatalf("attach: %q %v", out.String(), err)
	}
}

func TestExecRefusals(t *testing.T) {
	e := newEnv(t)
	c := e.apiserver(t)
	// Plain GETs fail before any upgrade with upstream's status codes.
	if code, _ := get(t, c, e.url+"/exec/ns/nope/c?command=ls&output=1"); code != 404 {
		t.Errorf("unknown pod: %d", code)
	}
	if code, _ := get(t, c, e.url+"/exec/ns/web/c?output=1"); code != 400 {
		t.Errorf("no command: %d", code)
	}
}

func TestPortForwardSPDY(t *testing.T) {
	e := newEnv(t)
	rt, upgrader, err := spdy.RoundTripperFor(e.restConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.url + "/portForward/ns/web")
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", u)
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("port-forward not ready")
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("ports %v %v", ports, err)
	}
	for i := range 2 { // two connections over one forwarding session
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "ping%d\n", i)
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if want := fmt.Sprintf("8080:PING%d\n", i); err != nil || line != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
}

func TestEnsureServingCertReuses(t *testing.T) {
	dir := t.TempDir()
	b, err := pki.Ensure(dir, pki.Names{})
	if err != nil {
		t.Fatal(err)
	}
	crt, key := filepath.Join(dir, "k.crt"), filepath.Join(dir, "k.key")
	ips := []net.IP{net.ParseIP("10.0.0.5")}
	if err := EnsureServingCert(b.ServerCA, b.ServerKey, crt, key, "n1", nil, ips); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(crt)
	if err := EnsureServingCert(b.ServerCA, b.ServerKey, crt, key, "n1", nil, ips); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(crt); !bytes.Equal(first, again) {
		t.Fatal("certificate re-issued although it still covers the names")
	}
	if err := EnsureServingCert(b.ServerCA, b.ServerKey, crt, key, "n1", nil, append(ips, net.ParseIP("10.0.0.6"))); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(pair.Certificate[0])
	if len(c.IPAddresses) != 2 || c.Subject.CommonName != "system:node:n1" || c.DNSNames[0] != "n1" {
		t.Fatalf("re-issued certificate: %v %v %v", c.IPAddresses, c.Subject, c.DNSNames)
	}
}

// oneSize is a TerminalSizeQueue with a single size.
type oneSize struct{ sent bool }

func (q *oneSize) Next() *remotecommand.TerminalSize {
	if q.sent {
		return nil
	}
	q.sent = true
	return &remotecommand.TerminalSize{Width: 120, Height: 40}
}

func TestExecTTYResize(t *testing.T) {
	e := newEnv(t)
	u := e.url + "/exec/ns/web/c?command=size&output=1&tty=1"
	pu, _ := url.Parse(u)
	for name, newExec := range map[string]func() (remotecommand.Executor, error){
		"websocket": func() (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutor(e.restConfig(t), "GET", u)
		},
		"spdy": func() (remotecommand.Executor, error) {
			return remotecommand.NewSPDYExecutor(e.restConfig(t), "POST", pu)
		},
	} {
		ex, err := newExec()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var out bytes.Buffer
		err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Tty: true, TerminalSizeQueue: &oneSize{}})
		cancel()
		if err != nil || out.String() != "120x40" {
			t.Errorf("%s: %q %v", name, out.String(), err)
		}
	}
}
