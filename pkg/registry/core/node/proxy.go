package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
)

// ProxyREST serves nodes/{name}/proxy/{path}: requests to the node's kubelet API
// (`kubectl get --raw /api/v1/nodes/n/proxy/stats/summary`), authenticated with the
// apiserver's kubelet-client certificate. As upstream, the name may carry a scheme
// and port ("https:n:10250"); a port other than the kubelet's is reached without the
// kubelet credentials.
type ProxyREST struct {
	kubelets *pod.KubeletConnector

	once  sync.Once
	plain http.RoundTripper
}

// NewProxyREST returns the nodes/proxy storage.
func NewProxyREST(k *pod.KubeletConnector) *ProxyREST {
	return &ProxyREST{kubelets: k}
}

var _ rest.Connecter = &ProxyREST{}

// proxyMethods are the methods upstream's proxy subresources accept.
var proxyMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

func (r *ProxyREST) New() runtime.Object { return &corev1.Node{} }
func (r *ProxyREST) Destroy()            {}

// ConnectMethods implements rest.Connecter.
func (r *ProxyREST) ConnectMethods() []string { return proxyMethods }

// NewConnectOptions implements rest.Connecter: the rest of the URL is the path.
func (r *ProxyREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.NodeProxyOptions{}, true, "path"
}

// Connect implements rest.Connecter.
func (r *ProxyREST) Connect(ctx context.Context, id string, opts runtime.Object, responder rest.Responder) (http.Handler, error) {
	o, ok := opts.(*corev1.NodeProxyOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid options object: %#v", opts))
	}
	scheme, name, port, valid := utilnet.SplitSchemeNamePort(id)
	if !valid || name == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid node request %q", id))
	}
	host, kubeletPort, err := r.kubelets.Endpoint(ctx, name)
	if err != nil {
		return nil, err
	}
	loc := &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(kubeletPort))}
	var transport http.RoundTripper
	if port == "" || port == strconv.Itoa(kubeletPort) {
		if transport, err = r.kubelets.Transport(); err != nil {
			return nil, apierrors.NewServiceUnavailable(err.Error())
		}
	} else {
		if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast()) {
			return nil, apierrors.NewBadRequest("address not allowed")
		}
		if scheme == "" {
			scheme = "http"
		}
		loc = &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}
		transport = r.plainTransport()
	}
	loc.Path = utilnet.JoinPreservingTrailingSlash(loc.Path, o.Path)
	if loc.Path == "" {
		loc.Path = "/"
	}
	return proxy.NewUpgradeAwareHandler(loc, transport, true, false, &errorResponder{node: name, r: responder}), nil
}

// plainTransport reaches other ports of a node without credentials; as upstream's
// proxy transport it does not verify serving certificates.
func (r *ProxyREST) plainTransport() http.RoundTripper {
	r.once.Do(func() {
		d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		r.plain = &http.Transport{
			DialContext:         d.DialContext,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}, //nolint:gosec // upstream's proxy transport
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}
	})
	return r.plain
}

// errorResponder reports a kubelet that cannot be dialed as 503 naming the node.
type errorResponder struct {
	node string
	r    rest.Responder
}

func (e *errorResponder) Error(w http.ResponseWriter, req *http.Request, err error) {
	e.r.Error(pod.Unreachable(e.node, err))
}
