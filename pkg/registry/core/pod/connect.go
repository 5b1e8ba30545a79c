package pod

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/proxy"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	"k8s.io/apiserver/pkg/registry/rest"
	translator "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// kubeletDialTimeout bounds how long a log, exec, attach or port-forward request waits
// for a kubelet that does not answer.
const kubeletDialTimeout = 5 * time.Second

// defaultKubeletPort is used when a node does not report its kubelet endpoint.
const defaultKubeletPort = 10250

// KubeletConnector finds the kubelet of a node and the TLS transport to reach it.
type KubeletConnector struct {
	// Nodes reads Node objects; it is set once the nodes storage is built.
	Nodes rest.Getter
	files store.KubeletClientFiles

	mu        sync.Mutex
	transport *http.Transport
}

// NewKubeletConnector returns a connector that authenticates to kubelets with the
// apiserver's kubelet-client certificate.
func NewKubeletConnector(files store.KubeletClientFiles) *KubeletConnector {
	return &KubeletConnector{files: files}
}

// Transport returns the TLS transport to kubelets, loading the files on first use.
func (k *KubeletConnector) Transport() (*http.Transport, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.transport != nil {
		return k.transport, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if k.files.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(k.files.CertFile, k.files.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load kubelet client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if k.files.CAFile != "" {
		pem, err := os.ReadFile(k.files.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read kubelet CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kubelet CA %s holds no certificate", k.files.CAFile)
		}
		cfg.RootCAs = pool
	} else {
		// Without a CA for kubelet serving certificates, upstream does not verify them either.
		cfg.InsecureSkipVerify = true
	}
	d := &net.Dialer{Timeout: kubeletDialTimeout, KeepAlive: 30 * time.Second}
	k.transport = &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: kubeletDialTimeout,
		MaxIdleConnsPerHost: 10,
		IdleConnTimeout:     90 * time.Second,
	}
	return k.transport, nil
}

// Location returns the https host:port of a node's kubelet.
func (k *KubeletConnector) Location(ctx context.Context, nodeName string) (string, error) {
	host, port, err := k.Endpoint(ctx, nodeName)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// Endpoint returns the host and kubelet port of a node.
func (k *KubeletConnector) Endpoint(ctx context.Context, nodeName string) (string, int, error) {
	if k == nil || k.Nodes == nil {
		return "", 0, apierrors.NewServiceUnavailable("the apiserver cannot reach kubelets: no node storage")
	}
	obj, err := k.Nodes.Get(clusterContext(ctx), nodeName, &metav1.GetOptions{})
	if err != nil {
		return "", 0, err
	}
	return KubeletEndpoint(obj.(*corev1.Node))
}

// KubeletEndpoint returns the host and kubelet port of n: its first InternalIP, else
// ExternalIP, else Hostname address, and the port it reports (10250 when it reports none).
func KubeletEndpoint(n *corev1.Node) (string, int, error) {
	host := ""
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range n.Status.Addresses {
			if a.Type == t && a.Address != "" && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return "", 0, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q has no address to reach its kubelet", n.Name))
	}
	port := int(n.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = defaultKubeletPort
	}
	return host, port, nil
}

// podTarget resolves the pod, its container and its node's kubelet for a request.
func podTarget(ctx context.Context, s *genericregistry.Store, kc *KubeletConnector, name, container string, needContainer bool) (*corev1.Pod, string, string, error) {
	obj, err := s.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, "", "", err
	}
	p := obj.(*corev1.Pod)
	if needContainer {
		if container, err = podContainer(p, container); err != nil {
			return nil, "", "", err
		}
	}
	if p.Spec.NodeName == "" {
		return nil, "", "", apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", name))
	}
	host, err := kc.Location(ctx, p.Spec.NodeName)
	if err != nil {
		return nil, "", "", err
	}
	return p, container, host, nil
}

// podContainer picks the container a request is for, with upstream's messages.
func podContainer(p *corev1.Pod, container string) (string, error) {
	if container == "" {
		switch len(p.Spec.Containers) {
		case 1:
			return p.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", p.Name))
		}
		var names []string
		for _, c := range p.Spec.InitContainers {
			names = append(names, c.Name)
		}
		for _, c := range p.Spec.Containers {
			names = append(names, c.Name)
		}
		for _, c := range p.Spec.EphemeralContainers {
			names = append(names, c.Name)
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", p.Name, names))
	}
	for _, c := range p.Spec.InitContainers {
		if c.Name == container {
			return container, nil
		}
	}
	for _, c := range p.Spec.Containers {
		if c.Name == container {
			return container, nil
		}
	}
	for _, c := range p.Spec.EphemeralContainers {
		if c.Name == container {
			return container, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, p.Name))
}

// Unreachable turns a failure to reach a node's kubelet into a 503 naming the node;
// API errors pass through.
func Unreachable(node string, err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf("unable to reach the kubelet of node %q: %v", node, err))
}

// LogREST serves pods/{name}/log by streaming the kubelet's containerLogs.
type LogREST struct {
	store *genericregistry.Store
	kc    *KubeletConnector
}

var (
	_ rest.GetterWithOptions = &LogREST{}
	_ rest.StorageMetadata   = &LogREST{}
)

func (r *LogREST) New() runtime.Object { return &corev1.Pod{} }
func (r *LogREST) Destroy()            {}

// ProducesMIMETypes implements rest.StorageMetadata.
func (r *LogREST) ProducesMIMETypes(verb string) []string {
	return []string{"text/plain"}
}

// ProducesObject implements rest.StorageMetadata.
func (r *LogREST) ProducesObject(verb string) any { return "" }

// NewGetOptions implements rest.GetterWithOptions.
func (r *LogREST) NewGetOptions() (runtime.Object, bool, string) {
	return &corev1.PodLogOptions{}, false, ""
}

// Get implements rest.GetterWithOptions.
func (r *LogREST) Get(ctx context.Context, name string, opts runtime.Object) (runtime.Object, error) {
	o, ok := opts.(*corev1.PodLogOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %#v", opts))
	}
	if errs := validateLogOptions(o); len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("PodLogOptions").GroupKind(), name, errs)
	}
	p, container, host, err := podTarget(ctx, r.store, r.kc, name, o.Container, true)
	if err != nil {
		return nil, err
	}
	rt, err := r.kc.Transport()
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	q := url.Values{}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	if o.Timestamps {
		q.Set("timestamps", "true")
	}
	if o.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*o.SinceSeconds, 10))
	}
	if o.SinceTime != nil {
		q.Set("sinceTime", o.SinceTime.Format(time.RFC3339))
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*o.LimitBytes, 10))
	}
	if o.Stream != nil {
		q.Set("stream", *o.Stream)
	}
	var transport http.RoundTripper = rt
	if o.InsecureSkipTLSVerifyBackend {
		insecure := rt.Clone()
		insecure.TLSClientConfig = rt.TLSClientConfig.Clone()
		insecure.TLSClientConfig.InsecureSkipVerify = true
		transport = insecure
	}
	return &logStreamer{node: p.Spec.NodeName, LocationStreamer: &genericrest.LocationStreamer{
		Location:        &url.URL{Scheme: "https", Host: host, Path: fmt.Sprintf("/containerLogs/%s/%s/%s", p.Namespace, p.Name, container), RawQuery: q.Encode()},
		Transport:       transport,
		ContentType:     "text/plain",
		Flush:           o.Follow,
		ResponseChecker: genericrest.NewGenericHttpResponseChecker(schema.GroupResource{Resource: "pods/log"}, name),
		RedirectChecker: genericrest.PreventRedirects,
	}}, nil
}

func validateLogOptions(o *corev1.PodLogOptions) (errs fieldErrors) {
	if o.SinceSeconds != nil && *o.SinceSeconds < 1 {
		errs = append(errs, fieldInvalid("sinceSeconds", *o.SinceSeconds, "must be greater than 0"))
	}
	if o.SinceSeconds != nil && o.SinceTime != nil {
		errs = append(errs, fieldForbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	}
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, fieldInvalid("tailLines", *o.TailLines, "must be greater than or equal to 0"))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, fieldInvalid("limitBytes", *o.LimitBytes, "must be greater than 0"))
	}
	return errs
}

// logStreamer turns a failure to reach the kubelet into a 503 that names the node.
type logStreamer struct {
	*genericrest.LocationStreamer
	node string
}

func (s *logStreamer) InputStream(ctx context.Context, apiVersion, acceptHeader string) (io.ReadCloser, bool, string, error) {
	rc, flush, ct, err := s.LocationStreamer.InputStream(ctx, apiVersion, acceptHeader)
	if err != nil {
		return nil, false, "", Unreachable(s.node, err)
	}
	return rc, flush, ct, nil
}

// streamREST serves exec, attach and portforward by proxying the upgraded connection to
// the kubelet, translating WebSocket clients to the kubelet's SPDY as upstream does.
type streamREST struct {
	store *genericregistry.Store
	kc    *KubeletConnector
	kind  string
}

var _ rest.Connecter = &streamREST{}

func (r *streamREST) New() runtime.Object { return &corev1.Pod{} }
func (r *streamREST) Destroy()            {}

// ConnectMethods implements rest.Connecter.
func (r *streamREST) ConnectMethods() []string { return []string{"GET", "POST"} }

// NewConnectOptions implements rest.Connecter.
func (r *streamREST) NewConnectOptions() (runtime.Object, bool, string) {
	switch r.kind {
	case "exec":
		return &corev1.PodExecOptions{}, false, ""
	case "attach":
		return &corev1.PodAttachOptions{}, false, ""
	}
	return &corev1.PodPortForwardOptions{}, false, ""
}

// Connect implements rest.Connecter.
func (r *streamREST) Connect(ctx context.Context, name string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	q := url.Values{}
	container := ""
	var streams translator.Options
	switch o := opts.(type) {
	case *corev1.PodExecOptions:
		container = o.Container
		streams = translator.Options{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Tty: o.TTY}
		for _, c := range o.Command {
			q.Add("command", c)
		}
		if len(o.Command) == 0 {
			return nil, apierrors.NewBadRequest("you must specify at least 1 command")
		}
	case *corev1.PodAttachOptions:
		container = o.Container
		streams = translator.Options{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Tty: o.TTY}
	case *corev1.PodPortForwardOptions:
		if len(o.Ports) > 0 {
			ports := make([]string, len(o.Ports))
			for i, p := range o.Ports {
				ports[i] = strconv.Itoa(int(p))
			}
			q.Set(corev1.PortHeader, strings.Join(ports, ","))
		}
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %#v", opts))
	}
	if r.kind != "portforward" {
		if !streams.Stdin && !streams.Stdout && !streams.Stderr {
			return nil, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
		}
		for k, on := range map[string]bool{corev1.ExecStdinParam: streams.Stdin, corev1.ExecStdoutParam: streams.Stdout, corev1.ExecStderrParam: streams.Stderr, corev1.ExecTTYParam: streams.Tty} {
			if on {
				q.Set(k, "1")
			}
		}
	}
	p, container, host, err := podTarget(ctx, r.store, r.kc, name, container, r.kind != "portforward")
	if err != nil {
		return nil, err
	}
	rt, err := r.kc.Transport()
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	path := fmt.Sprintf("/%s/%s/%s/%s", r.kind, p.Namespace, p.Name, container)
	if r.kind == "portforward" {
		path = fmt.Sprintf("/portForward/%s/%s", p.Namespace, p.Name)
	}
	loc := &url.URL{Scheme: "https", Host: host, Path: path, RawQuery: q.Encode()}
	var handler http.Handler = proxy.NewUpgradeAwareHandler(loc, rt, false, true, &unreachableResponder{node: p.Spec.NodeName, r: responder})
	if r.kind == "portforward" {
		handler = translator.NewTranslatingHandler(handler, translator.NewTunnelingHandler(handler), wsstream.IsWebSocketRequestWithTunnelingProtocol)
	} else {
		handler = translator.NewTranslatingHandler(handler, translator.NewStreamTranslatorHandler(loc, rt, 0, streams), wsstream.IsWebSocketRequestWithStreamCloseProtocol)
	}
	return handler, nil
}

// unreachableResponder reports a kubelet that cannot be dialed as 503 naming the node.
type unreachableResponder struct {
	node string
	r    rest.Responder
}

func (u *unreachableResponder) Error(w http.ResponseWriter, req *http.Request, err error) {
	u.r.Error(Unreachable(u.node, err))
}

// registerOptionConversions teaches the scheme to read the query parameters of the log,
// exec, attach, portforward and proxy subresources into their option types.
func registerOptionConversions(s *runtime.Scheme) error {
	add := func(to any, f func(v url.Values, out any) error) error {
		return s.AddConversionFunc((*url.Values)(nil), to, func(a, b any, _ conversion.Scope) error {
			return f(*a.(*url.Values), b)
		})
	}
	boolOf := func(v url.Values, k string) bool {
		x, ok := v[k]
		if !ok || len(x) == 0 {
			return false
		}
		return !(x[0] == "0" || strings.EqualFold(x[0], "false"))
	}
	int64Of := func(v url.Values, k string) (*int64, error) {
		if x := v.Get(k); x != "" {
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %v", k, err))
			}
			return &n, nil
		}
		return nil, nil
	}
	errs := []error{
		add((*corev1.PodLogOptions)(nil), func(v url.Values, out any) error {
			o := out.(*corev1.PodLogOptions)
			o.Container = v.Get("container")
			o.Follow, o.Previous, o.Timestamps = boolOf(v, "follow"), boolOf(v, "previous"), boolOf(v, "timestamps")
			o.InsecureSkipTLSVerifyBackend = boolOf(v, "insecureSkipTLSVerifyBackend")
			var err error
			if o.SinceSeconds, err = int64Of(v, "sinceSeconds"); err != nil {
				return err
			}
			if o.TailLines, err = int64Of(v, "tailLines"); err != nil {
				return err
			}
			if o.LimitBytes, err = int64Of(v, "limitBytes"); err != nil {
				return err
			}
			if x := v.Get("sinceTime"); x != "" {
				t, err := time.Parse(time.RFC3339, x)
				if err != nil {
					return apierrors.NewBadRequest(fmt.Sprintf("sinceTime: %v", err))
				}
				mt := metav1.NewTime(t)
				o.SinceTime = &mt
			}
			if x := v.Get("stream"); x != "" {
				o.Stream = &x
			}
			return nil
		}),
		add((*corev1.PodExecOptions)(nil), func(v url.Values, out any) error {
			o := out.(*corev1.PodExecOptions)
			o.Container, o.Command = v.Get("container"), v["command"]
			o.Stdin, o.Stdout, o.Stderr, o.TTY = boolOf(v, "stdin"), boolOf(v, "stdout"), boolOf(v, "stderr"), boolOf(v, "tty")
			return nil
		}),
		add((*corev1.PodAttachOptions)(nil), func(v url.Values, out any) error {
			o := out.(*corev1.PodAttachOptions)
			o.Container = v.Get("container")
			o.Stdin, o.Stdout, o.Stderr, o.TTY = boolOf(v, "stdin"), boolOf(v, "stdout"), boolOf(v, "stderr"), boolOf(v, "tty")
			return nil
		}),
		add((*corev1.PodPortForwardOptions)(nil), func(v url.Values, out any) error {
			o := out.(*corev1.PodPortForwardOptions)
			for _, p := range v["ports"] {
				for _, part := range strings.Split(p, ",") {
					n, err := strconv.ParseInt(strings.TrimSpace(part), 10, 32)
					if err != nil {
						return apierrors.NewBadRequest(fmt.Sprintf("ports: %v", err))
					}
					o.Ports = append(o.Ports, int32(n))
				}
			}
			return nil
		}),
		add((*corev1.PodProxyOptions)(nil), func(v url.Values, out any) error {
			out.(*corev1.PodProxyOptions).Path = v.Get("path")
			return nil
		}),
		add((*corev1.NodeProxyOptions)(nil), func(v url.Values, out any) error {
			out.(*corev1.NodeProxyOptions).Path = v.Get("path")
			return nil
		}),
	}
	return errors.Join(errs...)
}
