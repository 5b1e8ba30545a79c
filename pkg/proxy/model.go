package proxy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Protocol is a frontend's L4 protocol, numbered as IPPROTO_*.
type Protocol uint8

// The protocols the datapath balances.
const (
	TCP Protocol = 6
	UDP Protocol = 17
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

func protocolOf(p corev1.Protocol) (Protocol, bool) {
	switch p {
	case corev1.ProtocolTCP, "":
		return TCP, true
	case corev1.ProtocolUDP:
		return UDP, true
	}
	return 0, false // SCTP is not balanced (the socket hooks see only TCP and UDP)
}

// FrontendKey is an address a client connects to: a ClusterIP, a node
// address with a NodePort, an externalIP or a LoadBalancer ingress IP.
type FrontendKey struct {
	IP    netip.Addr
	Port  uint16
	Proto Protocol
}

func (k FrontendKey) String() string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(k.IP, k.Port), k.Proto)
}

// Backend is one endpoint of a service port.
type Backend struct {
	IP   netip.Addr
	Port uint16
}

func (b Backend) String() string { return netip.AddrPortFrom(b.IP, b.Port).String() }

// Frontend is what the datapath does with connections to a FrontendKey.
type Frontend struct {
	// Backends serve clients on this node (sockets, local pods): every
	// usable endpoint, or the node's own under internalTrafficPolicy Local.
	// Empty refuses connections.
	Backends []Backend
	// External marks NodePort, externalIP and LoadBalancer frontends, which
	// also take traffic arriving from outside the node.
	External bool
	// ExternalBackends serve traffic from outside the node (the node's own
	// endpoints under externalTrafficPolicy Local); only set when External.
	ExternalBackends []Backend
	// LocalOnly is externalTrafficPolicy Local: outside clients' source
	// addresses are kept (no masquerade).
	LocalOnly bool
	// Affinity is the ClientIP session affinity timeout; zero means none.
	Affinity time.Duration
}

// Equal reports whether f and o program the same datapath state.
func (f *Frontend) Equal(o *Frontend) bool {
	return f.External == o.External && f.LocalOnly == o.LocalOnly && f.Affinity == o.Affinity &&
		slices.Equal(f.Backends, o.Backends) && slices.Equal(f.ExternalBackends, o.ExternalBackends)
}

// NodeInfo is what the model needs to know about the proxy's own node.
type NodeInfo struct {
	// Name selects node-local endpoints (endpoint.nodeName) for the Local
	// traffic policies.
	Name string
	// Addresses are where NodePorts answer, besides 127.0.0.1.
	Addresses []netip.Addr
}

var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// BuildFrontends computes the frontends of one Service from its
// EndpointSlices, as kube-proxy does: endpoints are matched to the
// service's ports by port name; ready endpoints are used, or the
// serving-but-terminating ones when none is ready; the Local traffic
// policies keep the endpoints on node.Name. Only IPv4 is built.
func BuildFrontends(svc *corev1.Service, eps []*discoveryv1.EndpointSlice, node NodeInfo) map[FrontendKey]*Frontend {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	out := map[FrontendKey]*Frontend{}
	var affinity time.Duration
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = time.Duration(corev1.DefaultClientIPServiceAffinitySeconds) * time.Second
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	externalLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal &&
		(svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer)

	var clusterIPs []netip.Addr
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		clusterIPs = parseV4(ips)
	}
	externalIPs := parseV4(svc.Spec.ExternalIPs)
	var lbIPs []netip.Addr
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			// ipMode Proxy: the load balancer delivers to the node itself,
			// so the proxy must not short-circuit the address (as upstream).
			if ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeProxy {
				continue
			}
			lbIPs = append(lbIPs, parseV4([]string{ing.IP})...)
		}
	}
	nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer

	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		proto, ok := protocolOf(sp.Protocol)
		if !ok || sp.Port <= 0 || sp.Port > 65535 {
			continue
		}
		all, local := endpointsFor(sp, eps, node.Name)
		clusterBackends := all
		if internalLocal {
			clusterBackends = local
		}
		for _, ip := range clusterIPs {
			out[FrontendKey{ip, uint16(sp.Port), proto}] = &Frontend{Backends: clusterBackends, Affinity: affinity}
		}
		ext := &Frontend{Backends: all, External: true, ExternalBackends: all, Affinity: affinity}
		if externalLocal {
			ext.ExternalBackends, ext.LocalOnly = local, true
		}
		for _, ip := range slices.Concat(externalIPs, lbIPs) {
			out[FrontendKey{ip, uint16(sp.Port), proto}] = ext
		}
		if nodePorts && sp.NodePort > 0 && sp.NodePort <= 65535 {
			for _, ip := range append(slices.Clone(node.Addresses), loopback) {
				if !ip.Is4() {
					continue
				}
				out[FrontendKey{ip, uint16(sp.NodePort), proto}] = ext
			}
		}
	}
	return out
}

// endpointsFor returns the usable backends of a service port, and those on
// the named node.
func endpointsFor(sp *corev1.ServicePort, eps []*discoveryv1.EndpointSlice, nodeName string) (all, local []Backend) {
	var ready, terminating, readyLocal, terminatingLocal []Backend
	seen := map[Backend]bool{}
	for _, s := range eps {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var port int32
		found := false
		for _, p := range s.Ports {
			pname := ""
			if p.Name != nil {
				pname = *p.Name
			}
			pproto := corev1.ProtocolTCP
			if p.Protocol != nil {
				pproto = *p.Protocol
			}
			if pname == sp.Name && pproto == protoOrTCP(sp.Protocol) && p.Port != nil {
				port, found = *p.Port, true
				break
			}
		}
		if !found || port <= 0 || port > 65535 {
			continue
		}
		for i := range s.Endpoints {
			ep := &s.Endpoints[i]
			if len(ep.Addresses) == 0 {
				continue
			}
			ip, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil || !ip.Is4() {
				continue
			}
			b := Backend{IP: ip, Port: uint16(port)}
			if seen[b] {
				continue
			}
			// Conditions: nil ready/serving mean true, nil terminating false.
			isReady := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			isServing := ep.Conditions.Serving == nil || *ep.Conditions.Serving
			isTerminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			isLocal := ep.NodeName != nil && *ep.NodeName == nodeName
			switch {
			case isReady:
				ready = append(ready, b)
				if isLocal {
					readyLocal = append(readyLocal, b)
				}
			case isServing && isTerminating:
				terminating = append(terminating, b)
				if isLocal {
					terminatingLocal = append(terminatingLocal, b)
				}
			default:
				continue
			}
			seen[b] = true
		}
	}
	all, local = ready, readyLocal
	if len(all) == 0 {
		all = terminating
	}
	if len(local) == 0 {
		local = terminatingLocal
	}
	sortBackends(all)
	sortBackends(local)
	return all, local
}

func protoOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func sortBackends(bs []Backend) {
	slices.SortFunc(bs, func(a, b Backend) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
}

func parseV4(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		ip, err := netip.ParseAddr(s)
		if err == nil && ip.Is4() {
			out = append(out, ip)
		}
	}
	return out
}
