// Package server is the kubelet API on :10250: the endpoints the apiserver proxies
// `kubectl logs`, `exec`, `attach`, `port-forward` and `top` to, as upstream's kubelet
// serves them.
//
// The server knows nothing of the kubelet core. The core implements Host (pod lookup,
// container IDs, port forwarding, stats) and passes its *runtime.Runtime as Runtime:
//
//	srv, err := server.New(server.Config{
//		Addr: ":10250", CertFile: crt, KeyFile: key, ClientCAFile: clientCA,
//		Host: kubelet, Runtime: rt,
//	})
//	go srv.Run(ctx)
//
// Endpoints (paths and query parameters as the apiserver sends them, see
// pkg/registry/core/pod/connect.go):
//
//	GET  /healthz                                        "ok", no client certificate needed
//	GET  /pods                                           v1 PodList of Host.GetPods
//	GET  /containerLogs/{ns}/{pod}/{container}           follow, previous, timestamps, tailLines,
//	                                                     sinceSeconds|sinceTime, limitBytes, stream
//	GET|POST /exec/{ns}/{pod}/{container}?command=…&input=1&output=1&error=1&tty=1
//	GET|POST /attach/{ns}/{pod}/{container}?…            same stream flags
//	GET|POST /portForward/{ns}/{pod}[?port=…]            SPDY (portforward.k8s.io) or WebSocket v4
//	GET  /stats/summary                                  stats/v1alpha1 Summary from Host.StatsSummary
//	GET  /metrics/resource                               Prometheus text, what metrics-server scrapes
//
// exec and attach speak SPDY (v1–v4.channel.k8s.io, through k8s.io/cri-streaming) and
// WebSocket (channel.k8s.io up to v4 there, and v5.channel.k8s.io with stream close here),
// so both the apiserver's SPDY proxying and a direct client-go WebSocket executor work.
//
// UsageReader reads the CPU and memory of pod and container cgroups (v1 or v2) and of
// the node in the Summary API's shapes, for the core's StatsSummary. EnsureServingCert
// issues the serving certificate from the cluster CA.
//
// Clients authenticate with x509 certificates signed by the client CA; only the
// apiserver (CN system:kube-apiserver) and members of system:masters are allowed unless
// Config.Authorize says otherwise. Others get 401 (no certificate) or 403.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
)

// Host is what the kubelet core provides to the server.
type Host interface {
	// GetPodByName returns a pod the kubelet runs, by namespace and name.
	GetPodByName(namespace, name string) (*corev1.Pod, bool)
	// GetPods returns the pods the kubelet runs.
	GetPods() []*corev1.Pod
	// ContainerID returns the runtime ID of a container of pod (regular, init or
	// ephemeral): its current instance, or with previous the one that ran before it.
	// The error text goes to the client as is; upstream's are `previous terminated
	// container "c" in pod "p" not found` and `container "c" in pod "p" is waiting to
	// start: ContainerCreating`.
	ContainerID(pod *corev1.Pod, container string, previous bool) (string, error)
	// PortForward copies stream to and from port on the pod's loopback, inside its
	// network namespace, until either side closes.
	PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error
	// StatsSummary returns the node's and its pods' usage (CPU, memory, filesystems).
	StatsSummary(ctx context.Context) (*statsapi.Summary, error)
}

// Runtime is the part of *runtime.Runtime the server uses, by container ID.
type Runtime interface {
	Exec(ctx context.Context, id string, cmd []string, opts runtime.ExecOptions) (int, error)
	Attach(ctx context.Context, id string, opts runtime.ExecOptions) error
	ReadContainerLogs(ctx context.Context, id string, opts logs.ReadOptions, stdout, stderr io.Writer) error
}

// Config configures the server.
type Config struct {
	// Addr to listen on; ":10250" when empty.
	Addr string
	// The serving certificate: Certificate, or CertFile and KeyFile (see
	// EnsureServingCert). The files are read once, by New.
	Certificate       *tls.Certificate
	CertFile, KeyFile string
	// Client CA that signs the certificates clients present: ClientCAs or ClientCAFile.
	ClientCAs    *x509.CertPool
	ClientCAFile string
	Host         Host
	Runtime      Runtime
	// Authorize decides whether an authenticated user may use the API; nil allows
	// the apiserver's user and system:masters.
	Authorize func(user string, groups []string) bool
	// StreamIdleTimeout closes an exec, attach or port-forward session idle that long
	// (upstream's streamingConnectionIdleTimeout, 4h when zero).
	StreamIdleTimeout time.Duration
}

// APIServerUser is the user name of the apiserver's kubelet-client certificate.
const APIServerUser = "system:kube-apiserver"

// Server is the kubelet API server.
type Server struct {
	cfg     Config
	tls     *tls.Config
	handler http.Handler
}

// New checks cfg and builds the server; it does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Host == nil || cfg.Runtime == nil {
		return nil, errors.New("kubelet server: Host and Runtime are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = ":10250"
	}
	if cfg.StreamIdleTimeout == 0 {
		cfg.StreamIdleTimeout = 4 * time.Hour
	}
	if cfg.Authorize == nil {
		cfg.Authorize = defaultAuthorize
	}
	cert := cfg.Certificate
	if cert == nil {
		c, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kubelet server: load serving certificate: %w", err)
		}
		cert = &c
	}
	pool := cfg.ClientCAs
	if pool == nil {
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("kubelet server: read client CA: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kubelet server: client CA %s holds no certificate", cfg.ClientCAFile)
		}
	}
	s := &Server{cfg: cfg}
	s.tls = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*cert},
		// Verified when given: /healthz answers without one, the rest needs one.
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  pool,
		// SPDY upgrades need HTTP/1.1.
		NextProtos: []string{"http/1.1"},
	}
	s.handler = s.authenticate(s.routes())
	return s, nil
}

// TLSConfig is the server's TLS configuration, for serving Handler elsewhere (tests).
func (s *Server) TLSConfig() *tls.Config { return s.tls }

// Handler is the authenticated API, for use behind a TLS listener with TLSConfig.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on Config.Addr and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("kubelet server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves TLS on ln until ctx is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.handler, TLSConfig: s.tls, ReadHeaderTimeout: 30 * time.Second}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		// Hijacked streams (exec, port-forward) are not closed by Shutdown.
		_ = srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("kubelet server: %w", err)
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /pods", s.getPods)
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.getContainerLogs)
	for _, m := range []string{"GET", "POST"} {
		mux.HandleFunc(m+" /exec/{ns}/{pod}/{container}", s.exec)
		mux.HandleFunc(m+" /attach/{ns}/{pod}/{container}", s.attach)
		mux.HandleFunc(m+" /portForward/{ns}/{pod}", s.portForward)
	}
	mux.HandleFunc("GET /stats/summary", s.getStatsSummary)
	mux.HandleFunc("GET /metrics/resource", s.getMetricsResource)
	return mux
}

// pod resolves {ns}/{pod}, answering 404 as upstream does when it is unknown.
func (s *Server) pod(w http.ResponseWriter, r *http.Request) (*corev1.Pod, bool) {
	ns, name := r.PathValue("ns"), r.PathValue("pod")
	p, ok := s.cfg.Host.GetPodByName(ns, name)
	if !ok {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return nil, false
	}
	return p, true
}
