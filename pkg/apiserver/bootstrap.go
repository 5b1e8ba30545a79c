package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/dns"
	"github.com/skiff-k8s/skiff/pkg/join"
	"github.com/skiff-k8s/skiff/pkg/pki"
	"github.com/skiff-k8s/skiff/pkg/registry/flowcontrol"
	registryrbac "github.com/skiff-k8s/skiff/pkg/registry/rbac"
	"github.com/skiff-k8s/skiff/pkg/registry/scheduling"
)

// systemNamespaces exist in every cluster from the start.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// bootstrapStep makes sure one kind of start-up object exists; it must be idempotent.
type bootstrapStep struct {
	name string
	run  func(ctx context.Context, c kubernetes.Interface) error
}

// addBootstrapHooks creates the objects every cluster starts with, through the
// loopback client, retrying until each step succeeds.
func addBootstrapHooks(s *genericapiserver.GenericAPIServer, cfg Config) error {
	steps := []bootstrapStep{
		{"system-namespaces", ensureNamespaces},
		{"kubernetes-service", func(ctx context.Context, c kubernetes.Interface) error { return ensureKubernetesService(ctx, c, cfg) }},
		{"extension-apiserver-authentication", func(ctx context.Context, c kubernetes.Interface) error { return ensureAuthenticationInfo(ctx, c, cfg) }},
	}
	if cfg.JoinToken.Password != "" { // JOIN
		steps = append(steps, bootstrapStep{"bootstrap-token", func(ctx context.Context, c kubernetes.Interface) error {
			return join.EnsureBootstrapSecret(ctx, c, cfg.JoinToken)
		}})
	}
	if cfg.ClusterDNS != nil {
		steps = append(steps, bootstrapStep{"kube-dns-service", func(ctx context.Context, c kubernetes.Interface) error {
			return dns.EnsureService(ctx, c, cfg.ClusterDNS)
		}})
	}
	steps = append(steps,
		bootstrapStep{"rbac-policy", registryrbac.EnsureBootstrapPolicy},
		bootstrapStep{"priority-classes", scheduling.EnsureBuiltin},
		bootstrapStep{"flowcontrol", flowcontrol.EnsureBootstrap},
	)
	// /readyz stays false until every step has succeeded, as upstream's readiness waits
	// for rbac/bootstrap-roles: a client that sees ready sees the default policy.
	var pending atomic.Int32
	pending.Store(int32(len(steps)))
	if err := s.AddReadyzChecks(healthz.NamedCheck("skiff-bootstrap", func(*http.Request) error {
		if n := pending.Load(); n > 0 {
			return fmt.Errorf("%d bootstrap steps pending", n)
		}
		return nil
	})); err != nil {
		return err
	}
	return s.AddPostStartHook("skiff-bootstrap", func(hc genericapiserver.PostStartHookContext) error {
		client, err := kubernetes.NewForConfig(hc.LoopbackClientConfig)
		if err != nil {
			return err
		}
		ctx := hc
		for _, st := range steps {
			go func(st bootstrapStep) {
				for attempt := 0; ; attempt++ {
					err := st.run(ctx, client)
					if err == nil {
						pending.Add(-1)
						return
					}
					if attempt%10 == 9 {
						klog.ErrorS(err, "bootstrap step still failing", "step", st.name)
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
			}(st)
		}
		return nil
	})
}

func ensureNamespaces(ctx context.Context, c kubernetes.Interface) error {
	for _, ns := range systemNamespaces {
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	return nil
}

// ensureKubernetesService creates the default/kubernetes Service on the first service IP
// and points its Endpoints and EndpointSlice at this apiserver.
func ensureKubernetesService(ctx context.Context, c kubernetes.Interface, cfg Config) error {
	first := FirstServiceIP(cfg.ServiceCIDR)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: first.String(),
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(cfg.Port))}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if _, err := c.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create kubernetes service: %w", err)
	}
	ip := cfg.AdvertiseIP.String()
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: ip}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(cfg.Port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := upsert(ctx, func() error {
		_, err := c.CoreV1().Endpoints(metav1.NamespaceDefault).Create(ctx, ep, metav1.CreateOptions{})
		return err
	}, func() error {
		cur, err := c.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Subsets = ep.Subsets
		_, err = c.CoreV1().Endpoints(metav1.NamespaceDefault).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("kubernetes endpoints: %w", err)
	}
	ready := true
	port := int32(cfg.Port)
	name, proto := "https", corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
	return upsert(ctx, func() error {
		_, err := c.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Create(ctx, slice, metav1.CreateOptions{})
		return err
	}, func() error {
		cur, err := c.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Endpoints, cur.Ports = slice.Endpoints, slice.Ports
		_, err = c.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// upsert creates, or on AlreadyExists updates.
func upsert(ctx context.Context, create, update func() error) error {
	err := create()
	if apierrors.IsAlreadyExists(err) {
		return update()
	}
	return err
}

// FirstServiceIP is the first address of the service CIDR: the kubernetes Service's
// ClusterIP, and a name on the apiserver's serving certificate.
func FirstServiceIP(n *net.IPNet) net.IP {
	ip := n.IP.To4()
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3]) + 1
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
}

// ensureAuthenticationInfo publishes kube-system/extension-apiserver-authentication:
// the CAs and header names aggregated API servers read to authenticate clients and
// the requests the aggregator proxies to them, as kube-apiserver publishes it.
func ensureAuthenticationInfo(ctx context.Context, c kubernetes.Interface, cfg Config) error {
	clientCA, err := os.ReadFile(cfg.PKI.ClientCA)
	if err != nil {
		return err
	}
	requestHeaderCA, err := os.ReadFile(cfg.PKI.RequestHeaderCA)
	if err != nil {
		return err
	}
	jsonList := func(v []string) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	data := map[string]string{
		"client-ca-file":                     string(clientCA),
		"requestheader-client-ca-file":       string(requestHeaderCA),
		"requestheader-allowed-names":        jsonList([]string{pki.ProxyClientName}),
		"requestheader-username-headers":     jsonList(requestHeaderUsername),
		"requestheader-uid-headers":          jsonList(requestHeaderUID),
		"requestheader-group-headers":        jsonList(requestHeaderGroup),
		"requestheader-extra-headers-prefix": jsonList(requestHeaderExtraPrefix),
	}
	cms := c.CoreV1().ConfigMaps(metav1.NamespaceSystem)
	return upsert(ctx, func() error {
		_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "extension-apiserver-authentication"}, Data: data}, metav1.CreateOptions{})
		return err
	}, func() error {
		cur, err := cms.Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Data = data
		_, err = cms.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}
