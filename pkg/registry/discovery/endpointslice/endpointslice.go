// Package endpointslice serves discovery.k8s.io/v1 EndpointSlices: the addresses and
// ports behind a Service, in slices of at most 1000 endpoints.
package endpointslice

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Limits, as upstream.
const (
	maxTopologyLabels = 16
	maxAddresses      = 100
	maxPorts          = 20000
	maxEndpoints      = 1000
	maxZoneHints      = 8
)

var (
	addressTypes  = []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}
	portProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
)

// Resource is endpointslices.
var Resource = &store.Resource{
	Name: "endpointslices", Singular: "endpointslice", Namespaced: true,
	New:        func() runtime.Object { return &discoveryv1.EndpointSlice{} },
	NewList:    func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
	Generation: true,
	Defaults:   func(obj runtime.Object) { Default(obj.(*discoveryv1.EndpointSlice)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*discoveryv1.EndpointSlice))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		s, o := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
		return append(Validate(s), apivalidation.ValidateImmutableField(s.AddressType, o.AddressType, field.NewPath("addressType"))...)
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "AddressType", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]},
		{Name: "Ports", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]},
		{Name: "Endpoints", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]},
		store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		s := obj.(*discoveryv1.EndpointSlice)
		return []any{s.Name, string(s.AddressType), formatPorts(s.Ports), formatEndpoints(s.Endpoints), store.Age(s.CreationTimestamp)}
	},
}

// Default gives every port a name ("") and a protocol (TCP).
func Default(s *discoveryv1.EndpointSlice) {
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Name == nil {
			p.Name = new(string)
		}
		if p.Protocol == nil {
			tcp := corev1.ProtocolTCP
			p.Protocol = &tcp
		}
	}
}

// Validate checks the address type, every endpoint's addresses for that type, and ports.
func Validate(s *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	at := field.NewPath("addressType")
	switch s.AddressType {
	case "":
		errs = append(errs, field.Required(at, ""))
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		errs = append(errs, field.NotSupported(at, s.AddressType, addressTypes))
	}
	errs = append(errs, validateEndpoints(s.Endpoints, s.AddressType, field.NewPath("endpoints"))...)
	errs = append(errs, validatePorts(s.Ports, field.NewPath("ports"))...)
	return errs
}

func validateEndpoints(eps []discoveryv1.Endpoint, at discoveryv1.AddressType, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(eps) > maxEndpoints {
		errs = append(errs, field.TooMany(path, len(eps), maxEndpoints))
	}
	for i, ep := range eps {
		p := path.Index(i)
		ap := p.Child("addresses")
		if len(ep.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxAddresses {
			errs = append(errs, field.TooMany(ap, len(ep.Addresses), maxAddresses))
		}
		for j, a := range ep.Addresses {
			switch at {
			case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
				errs = append(errs, validateIP(a, at, ap.Index(j))...)
			case discoveryv1.AddressTypeFQDN:
				errs = append(errs, validation.IsFullyQualifiedDomainName(ap.Index(j), a)...)
			}
		}
		if ep.NodeName != nil {
			for _, msg := range apivalidation.NameIsDNSSubdomain(*ep.NodeName, false) {
				errs = append(errs, field.Invalid(p.Child("nodeName"), *ep.NodeName, msg))
			}
		}
		tp := p.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			errs = append(errs, field.TooMany(tp, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		errs = append(errs, metav1validation.ValidateLabels(ep.DeprecatedTopology, tp)...)
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(p.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.Hints != nil && len(ep.Hints.ForZones) > maxZoneHints {
			errs = append(errs, field.TooMany(p.Child("hints", "forZones"), len(ep.Hints.ForZones), maxZoneHints))
		}
	}
	return errs
}

// validateIP checks an address of the slice's family that may be an endpoint: not
// unspecified, loopback or link-local, as upstream's ValidateEndpointIP.
func validateIP(a string, at discoveryv1.AddressType, path *field.Path) field.ErrorList {
	ip, err := netip.ParseAddr(a)
	if err != nil || ip.Zone() != "" || (at == discoveryv1.AddressTypeIPv4) != ip.Is4() {
		return field.ErrorList{field.Invalid(path, a, fmt.Sprintf("must be a valid %s address", at))}
	}
	switch {
	case ip.IsUnspecified():
		return field.ErrorList{field.Invalid(path, a, fmt.Sprintf("may not be unspecified (%v)", a))}
	case ip.IsLoopback():
		return field.ErrorList{field.Invalid(path, a, "may not be in the loopback range (127.0.0.0/8, ::1/128)")}
	case ip.IsLinkLocalUnicast():
		return field.ErrorList{field.Invalid(path, a, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")}
	case ip.IsLinkLocalMulticast():
		return field.ErrorList{field.Invalid(path, a, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")}
	}
	return nil
}

func validatePorts(ports []discoveryv1.EndpointPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ports) > maxPorts {
		errs = append(errs, field.TooMany(path, len(ports), maxPorts))
	}
	names := map[string]bool{}
	for i, port := range ports {
		p := path.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(p.Child("name"), name, msg))
			}
		}
		if names[name] {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		names[name] = true
		switch {
		case port.Protocol == nil:
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		case *port.Protocol != corev1.ProtocolTCP && *port.Protocol != corev1.ProtocolUDP && *port.Protocol != corev1.ProtocolSCTP:
			errs = append(errs, field.NotSupported(p.Child("protocol"), *port.Protocol, portProtocols))
		}
		if port.AppProtocol != nil {
			for _, msg := range validation.IsQualifiedName(*port.AppProtocol) {
				errs = append(errs, field.Invalid(p.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return errs
}

// formatPorts prints up to three ports, as kubectl's PORTS column.
func formatPorts(ports []discoveryv1.EndpointPort) string {
	var list []string
	for _, port := range ports {
		if len(list) == 3 {
			break
		}
		s := "*"
		if port.Port != nil {
			s = strconv.Itoa(int(*port.Port))
		} else if port.Name != nil {
			s = *port.Name
		}
		list = append(list, s)
	}
	return withMore(list, len(ports))
}

// formatEndpoints prints up to three addresses, as kubectl's ENDPOINTS column.
func formatEndpoints(eps []discoveryv1.Endpoint) string {
	var list []string
	count := 0
	for _, ep := range eps {
		for _, a := range ep.Addresses {
			if len(list) < 3 {
				list = append(list, a)
			}
			count++
		}
	}
	return withMore(list, count)
}

func withMore(list []string, count int) string {
	s := strings.Join(list, ",")
	if count > len(list) {
		return fmt.Sprintf("%s + %d more...", s, count-len(list))
	}
	if s == "" {
		return "<unset>"
	}
	return s
}
