package endpoint

import (
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/endpointslice"
	endpointsliceutil "k8s.io/endpointslice/util"
	"k8s.io/klog/v2"
	utilnet "k8s.io/utils/net"
)

const (
	// maxCapacity is the most addresses an Endpoints object holds; beyond it the
	// controller truncates and sets the over-capacity annotation.
	maxCapacity = 1000
	// truncated is the value of endpoints.kubernetes.io/over-capacity.
	truncated = "truncated"
)

// desiredSubsets computes the Endpoints subsets of svc from its pods, in the
// canonical packed order, with the counts of ready and not-ready addresses.
func desiredSubsets(logger klog.Logger, svc *corev1.Service, pods []*corev1.Pod) ([]corev1.EndpointSubset, int, int) {
	var subsets []corev1.EndpointSubset
	var ready, notReady int
	for _, pod := range pods {
		if !endpointsliceutil.ShouldPodBeInEndpoints(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		addr, err := podToEndpointAddress(svc, pod)
		if err != nil {
			logger.V(2).Info("Failed to find endpoint for service", "service", klog.KObj(svc), "pod", klog.KObj(pod), "err", err)
			continue
		}
		if endpointsliceutil.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		// A ready address, or any address when the Service publishes not-ready ones.
		isReady := svc.Spec.PublishNotReadyAddresses || endpointsliceutil.IsPodReady(pod)
		add := func(ports []corev1.EndpointPort) {
			if isReady {
				subsets = append(subsets, corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{*addr}, Ports: ports})
				ready++
			} else {
				subsets = append(subsets, corev1.EndpointSubset{NotReadyAddresses: []corev1.EndpointAddress{*addr}, Ports: ports})
				notReady++
			}
		}
		if len(svc.Spec.Ports) == 0 {
			// Only a headless Service may have no ports.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add([]corev1.EndpointPort{})
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := endpointslice.FindPort(pod, sp)
			if err != nil {
				logger.V(4).Info("Failed to find port for service", "service", klog.KObj(svc), "err", err)
				continue
			}
			add([]corev1.EndpointPort{{Name: sp.Name, Port: int32(port), Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
		}
	}
	return repackSubsets(subsets), ready, notReady
}

// podToEndpointAddress picks the pod IP of the Service's (first) IP family.
func podToEndpointAddress(svc *corev1.Service, pod *corev1.Pod) (*corev1.EndpointAddress, error) {
	family := corev1.IPv4Protocol
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		family = svc.Spec.IPFamilies[0]
	case isServiceIPSet(svc):
		if utilnet.IsIPv6String(svc.Spec.ClusterIP) {
			family = corev1.IPv6Protocol
		}
	case utilnet.IsIPv6String(pod.Status.PodIP):
		family = corev1.IPv6Protocol
	}
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		if (family == corev1.IPv6Protocol) == utilnet.IsIPv6String(ip.IP) {
			nodeName := pod.Spec.NodeName
			return &corev1.EndpointAddress{
				IP:       ip.IP,
				NodeName: &nodeName,
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace,
					Name: pod.Name, UID: pod.UID},
			}, nil
		}
	}
	return nil, fmt.Errorf("failed to find a matching endpoint for service %v", svc.Name)
}

// addressKey identifies an address across subsets: the same IP may belong to two
// pods (host network), told apart by UID.
type addressKey struct {
	ip  string
	uid types.UID
}

func keyOf(a *corev1.EndpointAddress) addressKey {
	k := addressKey{ip: a.IP}
	if a.TargetRef != nil {
		k.uid = a.TargetRef.UID
	}
	return k
}

// repackSubsets regroups one-address subsets into the canonical layout the API
// expects: addresses offering the same set of ports share a subset; an address not
// ready on any port is listed as not ready. The result is sorted, so equal inputs
// give equal outputs.
func repackSubsets(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	addrs := map[addressKey]corev1.EndpointAddress{}
	// For each port, the addresses offering it and whether they are ready there.
	byPort := map[corev1.EndpointPort]map[addressKey]bool{}
	mark := func(a *corev1.EndpointAddress, port corev1.EndpointPort, ready bool) {
		k := keyOf(a)
		if _, ok := addrs[k]; !ok {
			addrs[k] = *a
		}
		if byPort[port] == nil {
			byPort[port] = map[addressKey]bool{}
		}
		// Not ready wins over ready.
		if was, ok := byPort[port][k]; !ok || was {
			byPort[port][k] = ready
		}
	}
	for i := range subsets {
		ports := subsets[i].Ports
		if len(ports) == 0 {
			// A headless Service without ports still lists its addresses.
			ports = []corev1.EndpointPort{noPort}
		}
		for _, port := range ports {
			for j := range subsets[i].Addresses {
				mark(&subsets[i].Addresses[j], port, true)
			}
			for j := range subsets[i].NotReadyAddresses {
				mark(&subsets[i].NotReadyAddresses[j], port, false)
			}
		}
	}
	// Group ports by their exact address set (with readiness).
	type group struct {
		set   map[addressKey]bool
		ports []corev1.EndpointPort
	}
	groups := map[string]*group{}
	for port, set := range byPort {
		id := setID(set)
		if groups[id] == nil {
			groups[id] = &group{set: set}
		}
		groups[id].ports = append(groups[id].ports, port)
	}
	out := []corev1.EndpointSubset{}
	for _, g := range groups {
		var s corev1.EndpointSubset
		for k, ready := range g.set {
			if ready {
				s.Addresses = append(s.Addresses, addrs[k])
			} else {
				s.NotReadyAddresses = append(s.NotReadyAddresses, addrs[k])
			}
		}
		if !(len(g.ports) == 1 && g.ports[0] == noPort) {
			s.Ports = g.ports
		}
		out = append(out, s)
	}
	return sortSubsets(out)
}

// noPort stands for "no ports" while repacking; no real port is negative.
var noPort = corev1.EndpointPort{Port: -1}

func setID(set map[addressKey]bool) string {
	parts := make([]string, 0, len(set))
	for k, ready := range set {
		parts = append(parts, fmt.Sprintf("%s/%s/%t", k.ip, k.uid, ready))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func lessAddress(a, b *corev1.EndpointAddress) bool {
	if a.IP != b.IP {
		return a.IP < b.IP
	}
	if b.TargetRef == nil {
		return false
	}
	if a.TargetRef == nil {
		return true
	}
	return a.TargetRef.UID < b.TargetRef.UID
}

func portID(p corev1.EndpointPort) string {
	app := ""
	if p.AppProtocol != nil {
		app = *p.AppProtocol
	}
	return fmt.Sprintf("%s/%d/%s/%s", p.Name, p.Port, p.Protocol, app)
}

// sortSubsets orders addresses by IP and UID, ports by name and number, and
// subsets by their first port and address.
func sortSubsets(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	for i := range subsets {
		s := &subsets[i]
		sort.Slice(s.Addresses, func(a, b int) bool { return lessAddress(&s.Addresses[a], &s.Addresses[b]) })
		sort.Slice(s.NotReadyAddresses, func(a, b int) bool { return lessAddress(&s.NotReadyAddresses[a], &s.NotReadyAddresses[b]) })
		sort.Slice(s.Ports, func(a, b int) bool { return portID(s.Ports[a]) < portID(s.Ports[b]) })
	}
	id := func(s *corev1.EndpointSubset) string {
		var b strings.Builder
		for _, p := range s.Ports {
			b.WriteString(portID(p) + ";")
		}
		b.WriteString("|")
		for _, a := range s.Addresses {
			b.WriteString(a.IP + ";")
		}
		b.WriteString("|")
		for _, a := range s.NotReadyAddresses {
			b.WriteString(a.IP + ";")
		}
		return b.String()
	}
	sort.Slice(subsets, func(a, b int) bool { return id(&subsets[a]) < id(&subsets[b]) })
	return subsets
}

// semanticIgnoreResourceVersion compares subsets ignoring the pods' resourceVersions
// in targetRefs, so that a pod update that changes nothing of its endpoint does not
// rewrite the Endpoints.
var semanticIgnoreResourceVersion = conversion.EqualitiesOrDie(
	func(a, b corev1.ObjectReference) bool {
		a.ResourceVersion, b.ResourceVersion = "", ""
		return a == b
	},
)

func subsetsEqual(a, b []corev1.EndpointSubset) bool {
	return semanticIgnoreResourceVersion.DeepEqual(a, b)
}

// capacityAnnotationSetCorrectly is false when the subsets exceed maxCapacity (they
// must be truncated) or when they do not and the annotation is still set.
func capacityAnnotationSetCorrectly(annotations map[string]string, subsets []corev1.EndpointSubset) bool {
	n := 0
	for _, s := range subsets {
		n += len(s.Addresses) + len(s.NotReadyAddresses)
	}
	if n > maxCapacity {
		return false
	}
	_, ok := annotations[corev1.EndpointsOverCapacity]
	return !ok
}

// truncateEndpoints keeps at most maxCapacity addresses, ready ones first, each
// subset keeping its share in proportion to its size; it reports whether it cut.
func truncateEndpoints(ep *corev1.Endpoints) bool {
	totalReady, totalNotReady := 0, 0
	for _, s := range ep.Subsets {
		totalReady += len(s.Addresses)
		totalNotReady += len(s.NotReadyAddresses)
	}
	if totalReady+totalNotReady <= maxCapacity {
		return false
	}
	truncateReady := totalReady > maxCapacity
	room, total := maxCapacity-totalReady, totalNotReady
	if truncateReady {
		room, total = maxCapacity, totalReady
	}
	left := room
	for i := range ep.Subsets {
		s := &ep.Subsets[i]
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		// Rounded up, so the last subsets may get less than their share.
		keep := int(math.Ceil(float64(n) / float64(total) * float64(room)))
		if keep > left {
			keep = left
		}
		if truncateReady {
			s.Addresses = firstN(s.Addresses, keep)
			s.NotReadyAddresses = []corev1.EndpointAddress{}
			left -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = firstN(s.NotReadyAddresses, keep)
			left -= len(s.NotReadyAddresses)
		}
	}
	return true
}

func firstN(a []corev1.EndpointAddress, n int) []corev1.EndpointAddress {
	if len(a) <= n {
		return a
	}
	return a[:n]
}
