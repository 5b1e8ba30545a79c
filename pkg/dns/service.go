package dns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// The cluster DNS Service, as k3s names and labels CoreDNS'.
const (
	ServiceName      = "kube-dns"
	ServiceNamespace = metav1.NamespaceSystem
	// PortName and TCPPortName are the Service's and the slices' port names.
	PortName    = "dns"
	TCPPortName = "dns-tcp"
	// ManagedBy is the endpointslice.kubernetes.io/managed-by value of the
	// EndpointSlices the agents publish.
	ManagedBy = "dns.skiff.io"
	// DefaultPort is the port each node's DNS listens on.
	DefaultPort = 53
)

// Service is the kube-dns Service at clusterIP: no selector (each node's
// agent publishes its own endpoint) and internalTrafficPolicy Local, so that
// the service proxy sends a node's queries to that node's DNS.
func Service(clusterIP net.IP) *corev1.Service {
	family := corev1.IPv4Protocol
	if clusterIP.To4() == nil {
		family = corev1.IPv6Protocol
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: ServiceNamespace,
			// k3s' CoreDNS labels, which tools and charts look the DNS up by.
			Labels: map[string]string{
				"k8s-app":                       "kube-dns",
				"kubernetes.io/cluster-service": "true",
				"kubernetes.io/name":            "CoreDNS",
			}},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			ClusterIP:             clusterIP.String(),
			ClusterIPs:            []string{clusterIP.String()},
			IPFamilies:            []corev1.IPFamily{family},
			IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal),
			SessionAffinity:       corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{
				{Name: PortName, Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
				{Name: TCPPortName, Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
}

// EnsureService creates the kube-dns Service at clusterIP unless a Service
// of that name exists (an admin's changes are kept, as k3s keeps a
// modified CoreDNS Service). It is safe to call at every start.
func EnsureService(ctx context.Context, client kubernetes.Interface, clusterIP net.IP) error {
	_, err := client.CoreV1().Services(ServiceNamespace).Create(ctx, Service(clusterIP), metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsInvalid(err):
		// The address is outside the service CIDR or taken by another
		// Service: retrying cannot help, and the rest of the cluster works.
		klog.ErrorS(err, "Cannot create the cluster DNS Service; pods will not resolve cluster names", "service", ServiceNamespace+"/"+ServiceName, "clusterIP", clusterIP)
		return nil
	}
	return fmt.Errorf("create service %s/%s: %w", ServiceNamespace, ServiceName, err)
}

// SliceName is the name of node's kube-dns EndpointSlice.
func SliceName(node string) string {
	name := ServiceName + "-" + node
	if len(name) > 253 {
		sum := sha256.Sum256([]byte(node))
		name = ServiceName + "-" + hex.EncodeToString(sum[:16])
	}
	return name
}

// endpointSlice is node's slice: one ready endpoint at ip, serving port
// over UDP and TCP, owned by the Service and the Node, so that the garbage
// collector removes it with either.
func endpointSlice(node string, ip net.IP, port int32, svc *corev1.Service, nodeObj *corev1.Node) *discoveryv1.EndpointSlice {
	at := discoveryv1.AddressTypeIPv4
	if ip.To4() == nil {
		at = discoveryv1.AddressTypeIPv6
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: SliceName(node), Namespace: ServiceNamespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: ServiceName, discoveryv1.LabelManagedBy: ManagedBy},
			OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID},
				{APIVersion: "v1", Kind: "Node", Name: nodeObj.Name, UID: nodeObj.UID},
			}},
		AddressType: at,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			NodeName:   ptr.To(node),
		}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To(PortName), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(port)},
			{Name: ptr.To(TCPPortName), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(port)},
		},
	}
}

// PublishEndpoint keeps node's EndpointSlice of the kube-dns Service
// pointing at ip:port while ctx lives (recreating it when deleted, once the
// Service and the Node exist) and deletes it when ctx ends, so that the
// proxy stops sending queries to a DNS that is gone.
func PublishEndpoint(ctx context.Context, client kubernetes.Interface, node string, ip net.IP, port int32) error {
	log := klog.FromContext(ctx).WithValues("endpointslice", ServiceNamespace+"/"+SliceName(node))
	// Watch our own slice only: a deletion or an edit by someone else is
	// put right at once.
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ServiceNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", SliceName(node)).String()
		}))
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	inf := f.Discovery().V1().EndpointSlices().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := client.DiscoveryV1().EndpointSlices(ServiceNamespace).Delete(dctx, SliceName(node), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			log.Error(err, "Cannot delete the node's DNS endpoint")
		}
	}()
	retry := time.NewTimer(0)
	defer retry.Stop()
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-retry.C:
		}
		if err := syncSlice(ctx, client, node, ip, port); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.V(2).Info("Cannot publish the node's DNS endpoint yet", "err", err)
			retry.Reset(backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = time.Second
	}
}

// syncSlice creates or corrects node's slice.
func syncSlice(ctx context.Context, client kubernetes.Interface, node string, ip net.IP, port int32) error {
	svc, err := client.CoreV1().Services(ServiceNamespace).Get(ctx, ServiceName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get service %s/%s: %w", ServiceNamespace, ServiceName, err)
	}
	n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node %s: %w", node, err)
	}
	want := endpointSlice(node, ip, port, svc, n)
	slices := client.DiscoveryV1().EndpointSlices(ServiceNamespace)
	cur, err := slices.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = slices.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if sliceMatches(cur, want) {
		return nil
	}
	cur.Labels, cur.OwnerReferences = want.Labels, want.OwnerReferences
	cur.AddressType, cur.Endpoints, cur.Ports = want.AddressType, want.Endpoints, want.Ports
	_, err = slices.Update(ctx, cur, metav1.UpdateOptions{})
	if apierrors.IsInvalid(err) {
		// The address type is immutable: replace the slice.
		if err = slices.Delete(ctx, want.Name, metav1.DeleteOptions{}); err == nil {
			_, err = slices.Create(ctx, want, metav1.CreateOptions{})
		}
	}
	return err
}

func sliceMatches(cur, want *discoveryv1.EndpointSlice) bool {
	if cur.AddressType != want.AddressType || len(cur.Endpoints) != 1 || len(cur.Ports) != len(want.Ports) ||
		len(cur.OwnerReferences) != len(want.OwnerReferences) {
		return false
	}
	for k, v := range want.Labels {
		if cur.Labels[k] != v {
			return false
		}
	}
	for i := range want.OwnerReferences {
		if cur.OwnerReferences[i].UID != want.OwnerReferences[i].UID {
			return false
		}
	}
	e, w := cur.Endpoints[0], want.Endpoints[0]
	if len(e.Addresses) != 1 || e.Addresses[0] != w.Addresses[0] || deref(e.NodeName) != deref(w.NodeName) ||
		e.Conditions.Ready == nil || !*e.Conditions.Ready {
		return false
	}
	for i := range want.Ports {
		c, p := cur.Ports[i], want.Ports[i]
		if deref(c.Name) != deref(p.Name) || c.Protocol == nil || *c.Protocol != *p.Protocol || c.Port == nil || *c.Port != *p.Port {
			return false
		}
	}
	return true
}
