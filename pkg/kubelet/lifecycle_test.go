package kubelet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
)

func TestNewHTTPGetRequest(t *testing.T) {
	c := &corev1.Container{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	g := &corev1.HTTPGetAction{
		Path:   "healthz?x=1",
		Port:   intstr.FromString("http"),
		Scheme: corev1.URISchemeHTTPS,
		HTTPHeaders: []corev1.HTTPHeader{
			{Name: "Host", Value: "example.test"},
			{Name: "X-A", Value: "1"},
			{Name: "User-Agent", Value: "mine"},
		},
	}
	req, err := newHTTPGetRequest(context.Background(), g, c, "10.0.0.5", "kube-lifecycle/v1")
	if err != nil {
		t.Fatal(err)
	}
	if got := req.URL.String(); got != "https://10.0.0.5:8080/healthz?x=1" {
		t.Errorf("url %s", got)
	}
	if req.Host != "example.test" || req.Header.Get("X-A") != "1" || req.Header.Get("User-Agent") != "mine" {
		t.Errorf("host %q headers %v", req.Host, req.Header)
	}
	if _, err := newHTTPGetRequest(context.Background(), &corev1.HTTPGetAction{Port: intstr.FromString("nope")}, c, "h", "ua"); err == nil {
		t.Error("unknown port name: no error")
	}
}

func TestRunHook(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	k := &Kubelet{recorder: rec, cfg: Config{KubeletVersion: "v1.37.2"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}}
	c := &corev1.Container{Name: "c"}

	var ua, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua, path = r.UserAgent(), r.URL.Path
		w.WriteHeader(http.StatusInternalServerError) // a status does not fail a hook
	}))
	defer srv.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	p, _ := strconv.Atoi(port)
	h := &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/hook", Port: intstr.FromInt32(int32(p))}}
	if msg, err := k.runHook(context.Background(), pod, c, "id", h, []string{host}); err != nil {
		t.Fatalf("http hook: %v %s", err, msg)
	}
	if ua != "kube-lifecycle/v1.37.2" || path != "/hook" {
		t.Errorf("hook request: ua %q path %q", ua, path)
	}

	// An HTTPS hook answered in plain HTTP is retried over HTTP.
	h.HTTPGet.Scheme = corev1.URISchemeHTTPS
	if msg, err := k.runHook(context.Background(), pod, c, "id", h, []string{host}); err != nil {
		t.Fatalf("https hook to an http server: %v %s", err, msg)
	}
	if ev := <-rec.Events; !strings.HasPrefix(ev, "Warning LifecycleHTTPFallback") {
		t.Errorf("event %q", ev)
	}

	srv.Close()
	h.HTTPGet.Scheme = ""
	msg, err := k.runHook(context.Background(), pod, c, "id", h, []string{host})
	if err == nil || !strings.HasPrefix(msg, `HTTP lifecycle hook (/hook) for Container "c" in Pod "p_ns(u)" failed - error: `) {
		t.Errorf("refused: %v %q", err, msg)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	msg, err = k.runHook(ctx, pod, c, "id", &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 30}}, nil)
	if err == nil || msg != `Sleep lifecycle hook (30) for Container "c" in Pod "p_ns(u)" failed - error: container terminated before sleep hook finished` {
		t.Errorf("sleep cut short: %v %q", err, msg)
	}
	if _, err := k.runHook(context.Background(), pod, c, "id", &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 0}}, nil); err != nil {
		t.Errorf("sleep 0: %v", err)
	}
}
