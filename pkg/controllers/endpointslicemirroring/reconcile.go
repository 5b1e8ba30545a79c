package endpointslicemirroring

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	endpointsliceutil "k8s.io/endpointslice/util"
	netutils "k8s.io/utils/net"
)

// Event reasons of upstream's mirroring controller.
const (
	invalidIPAddress         = "InvalidIPAddress"
	tooManyAddressesToMirror = "TooManyAddressesToMirror"
)

// desiredSlice is the content of one mirrored slice: a set of ports and an address
// family, and the endpoints offering them.
type desiredSlice struct {
	ports       []discoveryv1.EndpointPort
	addressType discoveryv1.AddressType
	endpoints   []discoveryv1.Endpoint
	seen        map[string]bool
}

func sliceKey(ports []discoveryv1.EndpointPort, addressType discoveryv1.AddressType) string {
	// NewPortMapKey sorts its argument: give it a copy.
	return string(endpointsliceutil.NewPortMapKey(append([]discoveryv1.EndpointPort(nil), ports...))) + "/" + string(addressType)
}

// desired computes the slices ep mirrors to, by key, recording events for the
// addresses it cannot mirror.
func (e *controller) desired(ep *corev1.Endpoints) map[string]*desiredSlice {
	out := map[string]*desiredSlice{}
	invalid, skipped := 0, 0
	for _, ss := range ep.Subsets {
		ports := make([]discoveryv1.EndpointPort, 0, len(ss.Ports))
		for _, p := range ss.Ports {
			p := p
			ports = append(ports, discoveryv1.EndpointPort{Name: &p.Name, Port: &p.Port, Protocol: &p.Protocol, AppProtocol: p.AppProtocol})
		}
		added := 0
		add := func(a corev1.EndpointAddress, ready bool) {
			if added >= maxEndpointsPerSubset {
				skipped++
				return
			}
			endpoint, addressType := addressToEndpoint(a, ready)
			if endpoint == nil {
				invalid++
				skipped++
				return
			}
			k := sliceKey(ports, addressType)
			d := out[k]
			if d == nil {
				d = &desiredSlice{ports: ports, addressType: addressType, seen: map[string]bool{}}
				out[k] = d
			}
			id := endpoint.Addresses[0]
			if endpoint.TargetRef != nil {
				id += "/" + string(endpoint.TargetRef.UID)
			}
			if d.seen[id] || len(d.endpoints) >= maxEndpointsPerSubset {
				return
			}
			d.seen[id] = true
			d.endpoints = append(d.endpoints, *endpoint)
			added++
		}
		for _, a := range ss.Addresses {
			add(a, true)
		}
		for _, a := range ss.NotReadyAddresses {
			add(a, false)
		}
	}
	if invalid > 0 {
		e.recorder.Eventf(ep, corev1.EventTypeWarning, invalidIPAddress,
			"Skipped %d invalid IP addresses when mirroring to EndpointSlices", invalid)
	}
	if skipped > invalid {
		e.recorder.Eventf(ep, corev1.EventTypeWarning, tooManyAddressesToMirror,
			"A max of %d addresses can be mirrored to EndpointSlices per Endpoints subset. %d addresses were skipped", maxEndpointsPerSubset, skipped-invalid)
	}
	return out
}

// addressToEndpoint converts an Endpoints address; nil for an address that is not
// an IP.
func addressToEndpoint(a corev1.EndpointAddress, ready bool) (*discoveryv1.Endpoint, discoveryv1.AddressType) {
	ip := netutils.ParseIPSloppy(a.IP)
	if ip == nil {
		return nil, ""
	}
	addressType := discoveryv1.AddressTypeIPv4
	if ip.To4() == nil {
		addressType = discoveryv1.AddressTypeIPv6
	}
	ep := &discoveryv1.Endpoint{
		Addresses:  []string{ip.String()},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		TargetRef:  a.TargetRef,
		NodeName:   a.NodeName,
	}
	if a.Hostname != "" {
		h := a.Hostname
		ep.Hostname = &h
	}
	return ep, addressType
}

// reconcile makes one slice per desired key hold exactly its endpoints, reusing
// existing slices and deleting the rest.
func (e *controller) reconcile(ctx context.Context, ep *corev1.Endpoints, existing []*discoveryv1.EndpointSlice) error {
	want := e.desired(ep)
	byKey := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := sliceKey(s.Ports, s.AddressType)
		byKey[k] = append(byKey[k], s)
	}
	var toDelete []*discoveryv1.EndpointSlice
	for k, slices := range byKey {
		if _, ok := want[k]; !ok {
			toDelete = append(toDelete, slices...)
		} else {
			toDelete = append(toDelete, slices[1:]...)
		}
	}
	client := e.client.DiscoveryV1().EndpointSlices(ep.Namespace)
	for k, d := range want {
		desired := newSlice(ep, d)
		if cur := byKey[k]; len(cur) > 0 {
			if sameSlice(cur[0], desired) {
				continue
			}
			desired.Name, desired.GenerateName, desired.ResourceVersion = cur[0].Name, "", cur[0].ResourceVersion
			updated, err := client.Update(ctx, desired, metav1.UpdateOptions{})
			if err != nil {
				return fmt.Errorf("failed to update %s EndpointSlice for Endpoints %s/%s: %w", desired.Name, ep.Namespace, ep.Name, err)
			}
			e.tracker.Update(updated)
			continue
		}
		if ep.DeletionTimestamp != nil {
			continue
		}
		created, err := client.Create(ctx, desired, metav1.CreateOptions{})
		if err != nil {
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			return fmt.Errorf("failed to create EndpointSlice for Endpoints %s/%s: %w", ep.Namespace, ep.Name, err)
		}
		e.tracker.Update(created)
	}
	return e.deleteSlices(ctx, ep.Namespace, toDelete)
}

// newSlice is the mirrored slice of d: the Endpoints' labels and annotations (but
// the trigger time and kubectl's last-applied configuration), owned by the Endpoints.
func newSlice(ep *corev1.Endpoints, d *desiredSlice) *discoveryv1.EndpointSlice {
	t := true
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: ep.Name + "-",
			Namespace:    ep.Namespace,
			Labels:       map[string]string{},
			Annotations:  map[string]string{},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Endpoints", Name: ep.Name,
				UID: ep.UID, Controller: &t, BlockOwnerDeletion: &t}},
		},
		AddressType: d.addressType,
		Ports:       d.ports,
		Endpoints:   append([]discoveryv1.Endpoint{}, d.endpoints...),
	}
	for k, v := range ep.Labels {
		s.Labels[k] = v
	}
	s.Labels[discoveryv1.LabelServiceName] = ep.Name
	s.Labels[discoveryv1.LabelManagedBy] = ControllerName
	for k, v := range ep.Annotations {
		if k != corev1.EndpointsLastChangeTriggerTime && k != corev1.LastAppliedConfigAnnotation {
			s.Annotations[k] = v
		}
	}
	sortEndpoints(s.Endpoints)
	return s
}

func sortEndpoints(eps []discoveryv1.Endpoint) {
	sort.Slice(eps, func(i, j int) bool { return eps[i].Addresses[0] < eps[j].Addresses[0] })
}

// sameSlice reports whether cur already holds what desired says.
func sameSlice(cur, desired *discoveryv1.EndpointSlice) bool {
	curEps := append([]discoveryv1.Endpoint{}, cur.Endpoints...)
	sortEndpoints(curEps)
	return apiequality.Semantic.DeepEqual(cur.Labels, desired.Labels) &&
		apiequality.Semantic.DeepEqual(cur.Annotations, desired.Annotations) &&
		apiequality.Semantic.DeepEqual(cur.OwnerReferences, desired.OwnerReferences) &&
		apiequality.Semantic.DeepEqual(curEps, desired.Endpoints)
}
