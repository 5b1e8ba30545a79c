// Package endpoints serves core/v1 Endpoints: validation of subsets, addresses and
// ports, and the table kubectl prints ("10.0.0.1:80,10.0.0.2:80 + 1 more...").
package endpoints

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is endpoints.
var Resource = &store.Resource{
	Name: "endpoints", Singular: "endpoints", Namespaced: true, ShortNames: []string{"ep"},
	New:     func() runtime.Object { return &corev1.Endpoints{} },
	NewList: func() runtime.Object { return &corev1.EndpointsList{} },
	Defaults: func(obj runtime.Object) {
		ep := obj.(*corev1.Endpoints)
		for i := range ep.Subsets {
			for j := range ep.Subsets[i].Ports {
				if ep.Subsets[i].Ports[j].Protocol == "" {
					ep.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
				}
			}
		}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.Endpoints))
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Endpoints", Type: "string", Description: corev1.Endpoints{}.SwaggerDoc()["subsets"]},
		store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		ep := obj.(*corev1.Endpoints)
		return []any{ep.Name, Format(ep), store.Age(ep.CreationTimestamp)}
	},
}

var protocols = sets.New(string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP))

// ValidatePort checks what Endpoints and Service ports share, at p: the name (required
// when there are several ports, a DNS label, unique among names), the port number and
// the protocol.
func ValidatePort(name string, port int32, protocol corev1.Protocol, several bool, names map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if several && name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else if name != "" {
		for _, msg := range validation.IsDNS1123Label(name) {
			errs = append(errs, field.Invalid(p.Child("name"), name, msg))
		}
		if names[name] {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		names[name] = true
	}
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(p.Child("port"), port, msg))
	}
	if protocol == "" {
		errs = append(errs, field.Required(p.Child("protocol"), ""))
	} else if !protocols.Has(string(protocol)) {
		errs = append(errs, field.NotSupported(p.Child("protocol"), protocol, sets.List(protocols)))
	}
	return errs
}

// Validate checks subsets as upstream does.
func Validate(ep *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range ep.Subsets {
		p := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, validateAddress(a, p.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateAddress(a, p.Child("notReadyAddresses").Index(j))...)
		}
		names := map[string]bool{}
		for j, port := range ss.Ports {
			errs = append(errs, ValidatePort(port.Name, port.Port, port.Protocol, len(ss.Ports) > 1, names, p.Child("ports").Index(j))...)
		}
	}
	return errs
}

func validateAddress(a corev1.EndpointAddress, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	ip := net.ParseIP(a.IP)
	switch {
	case ip == nil:
		errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
	case ip.IsUnspecified():
		errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "may not be unspecified (0.0.0.0)"))
	case ip.IsLoopback():
		errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	case ip.IsLinkLocalUnicast():
		errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	case ip.IsLinkLocalMulticast():
		errs = append(errs, field.Invalid(p.Child("ip"), a.IP, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	if a.Hostname != "" {
		for _, msg := range validation.IsDNS1123Label(a.Hostname) {
			errs = append(errs, field.Invalid(p.Child("hostname"), a.Hostname, msg))
		}
	}
	if a.NodeName != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*a.NodeName) {
			errs = append(errs, field.Invalid(p.Child("nodeName"), *a.NodeName, msg))
		}
	}
	return errs
}

// Format prints up to three ip:port pairs and how many more there are, as kubectl does.
func Format(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	count := 0
	for _, ss := range ep.Subsets {
		for _, port := range ss.Ports {
			for _, a := range ss.Addresses {
				if len(list) < max {
					list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(port.Port))))
				}
				count++
			}
		}
	}
	s := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", s, count-max)
	}
	return s
}
