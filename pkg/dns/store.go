package dns

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Index names of the store's informers.
const (
	byClusterIP = "clusterIP"
	byService   = "service"
	byAddress   = "address"
)

// store is what the records are built from: Services, EndpointSlices and
// Namespaces, cached by informers that keep only the fields DNS reads.
type store struct {
	factory    informers.SharedInformerFactory
	services   cache.SharedIndexInformer
	slices     cache.SharedIndexInformer
	namespaces cache.SharedIndexInformer
	// modified is the Unix time of the last change seen: the SOA serial, as
	// CoreDNS reports it.
	modified atomic.Int64
}

func newStore(client kubernetes.Interface) (*store, error) {
	s := &store{factory: informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(trim))}
	s.modified.Store(time.Now().Unix())
	s.services = s.factory.Core().V1().Services().Informer()
	s.slices = s.factory.Discovery().V1().EndpointSlices().Informer()
	s.namespaces = s.factory.Core().V1().Namespaces().Informer()
	if err := s.services.AddIndexers(cache.Indexers{byClusterIP: serviceIPs}); err != nil {
		return nil, err
	}
	if err := s.slices.AddIndexers(cache.Indexers{byService: sliceService, byAddress: sliceAddresses}); err != nil {
		return nil, err
	}
	touch := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.modified.Store(time.Now().Unix()) },
		UpdateFunc: func(any, any) { s.modified.Store(time.Now().Unix()) },
		DeleteFunc: func(any) { s.modified.Store(time.Now().Unix()) },
	}
	for _, inf := range []cache.SharedIndexInformer{s.services, s.slices, s.namespaces} {
		if _, err := inf.AddEventHandler(touch); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *store) synced() bool {
	return s.services.HasSynced() && s.slices.HasSynced() && s.namespaces.HasSynced()
}

// trim keeps of each object only what the records need, so that a node's
// DNS holds a few hundred bytes per Service, not the whole object.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		t := &corev1.Service{ObjectMeta: trimMeta(o.ObjectMeta, nil), Spec: corev1.ServiceSpec{
			Type:         o.Spec.Type,
			ClusterIP:    o.Spec.ClusterIP,
			ClusterIPs:   o.Spec.ClusterIPs,
			ExternalName: o.Spec.ExternalName,
		}}
		for _, p := range o.Spec.Ports {
			t.Spec.Ports = append(t.Spec.Ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port})
		}
		return t, nil
	case *discoveryv1.EndpointSlice:
		t := &discoveryv1.EndpointSlice{AddressType: o.AddressType, Ports: o.Ports,
			ObjectMeta: trimMeta(o.ObjectMeta, map[string]string{discoveryv1.LabelServiceName: o.Labels[discoveryv1.LabelServiceName]})}
		for _, e := range o.Endpoints {
			t.Endpoints = append(t.Endpoints, discoveryv1.Endpoint{Addresses: e.Addresses, Hostname: e.Hostname,
				Conditions: discoveryv1.EndpointConditions{Ready: e.Conditions.Ready}})
		}
		return t, nil
	case *corev1.Namespace:
		return &corev1.Namespace{ObjectMeta: trimMeta(o.ObjectMeta, nil)}, nil
	}
	return obj, nil
}

func trimMeta(m metav1.ObjectMeta, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion, Labels: labels}
}

func serviceIPs(obj any) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, fmt.Errorf("not a Service: %T", obj)
	}
	return clusterIPs(svc), nil
}

// clusterIPs are a Service's cluster IPs, none for a headless one.
func clusterIPs(svc *corev1.Service) []string {
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		return nil
	}
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs
	}
	return []string{svc.Spec.ClusterIP}
}

func sliceService(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, fmt.Errorf("not an EndpointSlice: %T", obj)
	}
	name := es.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{es.Namespace + "/" + name}, nil
}

func sliceAddresses(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, fmt.Errorf("not an EndpointSlice: %T", obj)
	}
	if es.AddressType == discoveryv1.AddressTypeFQDN {
		return nil, nil
	}
	var out []string
	for _, e := range es.Endpoints {
		for _, a := range e.Addresses {
			if ip := net.ParseIP(a); ip != nil {
				out = append(out, ip.String())
			}
		}
	}
	return out, nil
}

// service returns the Service ns/name, or nil.
func (s *store) service(ns, name string) *corev1.Service {
	obj, ok, err := s.services.GetIndexer().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil
	}
	return obj.(*corev1.Service)
}

func (s *store) namespaceExists(ns string) bool {
	_, ok, err := s.namespaces.GetIndexer().GetByKey(ns)
	return err == nil && ok
}

// endpoint is one ready address of a Service's EndpointSlices.
type endpoint struct {
	ip       string
	hostname string
	ports    []discoveryv1.EndpointPort
}

// endpoints returns the ready endpoints of Service ns/name (ready unset
// counts as ready, as the API defines it), each address once with the
// ports of every slice it is in.
func (s *store) endpoints(ns, name string) []endpoint {
	objs, err := s.slices.GetIndexer().ByIndex(byService, ns+"/"+name)
	if err != nil {
		return nil
	}
	var out []endpoint
	seen := map[string]int{} // address → index in out
	for _, obj := range objs {
		es := obj.(*discoveryv1.EndpointSlice)
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		for _, e := range es.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				ip := net.ParseIP(a)
				if ip == nil {
					continue
				}
				// An address in two slices (split by port set, or while
				// one replaces another) is one endpoint with both ports.
				if i, ok := seen[ip.String()]; ok {
					out[i].ports = append(out[i].ports[:len(out[i].ports):len(out[i].ports)], es.Ports...)
					continue
				}
				seen[ip.String()] = len(out)
				ep := endpoint{ip: ip.String(), ports: es.Ports}
				if e.Hostname != nil {
					ep.hostname = *e.Hostname
				}
				out = append(out, ep)
			}
		}
	}
	return out
}

// serviceByIP returns a Service with that cluster IP, or nil.
func (s *store) serviceByIP(ip string) *corev1.Service {
	objs, err := s.services.GetIndexer().ByIndex(byClusterIP, ip)
	if err != nil || len(objs) == 0 {
		return nil
	}
	return objs[0].(*corev1.Service)
}

// endpointsByIP returns the Services (namespace, name) with a ready
// endpoint at ip, and that endpoint.
func (s *store) endpointsByIP(ip string) (refs []endpointRef) {
	objs, err := s.slices.GetIndexer().ByIndex(byAddress, ip)
	if err != nil {
		return nil
	}
	seen := map[endpointRef]bool{}
	for _, obj := range objs {
		es := obj.(*discoveryv1.EndpointSlice)
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		for _, e := range es.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				if p := net.ParseIP(a); p == nil || p.String() != ip {
					continue
				}
				r := endpointRef{namespace: es.Namespace, service: svc, host: endpointHostname(endpoint{ip: ip, hostname: deref(e.Hostname)})}
				if !seen[r] {
					seen[r] = true
					refs = append(refs, r)
				}
			}
		}
	}
	return refs
}

type endpointRef struct{ namespace, service, host string }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
