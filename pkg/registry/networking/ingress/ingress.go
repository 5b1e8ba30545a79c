// Package ingress serves networking.k8s.io/v1 Ingresses: HTTP routing rules to Services,
// with status written by the ingress controller.
package ingress

import (
	"context"
	"fmt"
	"net"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// DefaultClass returns the class an Ingress created without one gets ("" for none); the
// group wires it to the IngressClass store, standing in for upstream's DefaultIngressClass
// admission plugin.
var DefaultClass func(ctx context.Context) string

// Resource is ingresses.
var Resource = &store.Resource{
	Name: "ingresses", Singular: "ingress", Namespaced: true, ShortNames: []string{"ing"},
	Generation: true, Status: true,
	New:     func() runtime.Object { return &networkingv1.Ingress{} },
	NewList: func() runtime.Object { return &networkingv1.IngressList{} },
	PrepareForCreate: func(ctx context.Context, obj runtime.Object) {
		ing := obj.(*networkingv1.Ingress)
		if ing.Spec.IngressClassName == nil && ing.Annotations[legacyClassAnnotation] == "" && DefaultClass != nil {
			if c := DefaultClass(ctx); c != "" {
				ing.Spec.IngressClassName = &c
			}
		}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*networkingv1.Ingress))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return ValidateStatus(&obj.(*networkingv1.Ingress).Status)
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Class", Type: "string", Description: "The name of the IngressClass resource that should be used for additional configuration"},
		{Name: "Hosts", Type: "string", Description: "Hosts that incoming requests are matched against before the ingress rule"},
		{Name: "Address", Type: "string", Description: "Address is a list containing ingress points for the load-balancer"},
		{Name: "Ports", Type: "string", Description: "Ports of TLS configurations that open"},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*networkingv1.Ingress)) },
}

// legacyClassAnnotation is the pre-v1 way to pick a class; upstream's admission leaves
// Ingresses that carry it alone.
const legacyClassAnnotation = "kubernetes.io/ingress.class"

// Row prints an Ingress as kubectl does.
func Row(ing *networkingv1.Ingress) []any {
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	ports := "80"
	if len(ing.Spec.TLS) != 0 {
		ports = "80, 443"
	}
	return []any{ing.Name, class, formatHosts(ing.Spec.Rules), formatAddress(ing.Status.LoadBalancer.Ingress), ports, store.Age(ing.CreationTimestamp)}
}

func formatHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var list []string
	for _, r := range rules {
		if len(list) == max {
			return fmt.Sprintf("%s + %d more...", strings.Join(list, ","), len(rules)-max)
		}
		if r.Host == "" {
			list = append(list, "*")
		} else {
			list = append(list, r.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	return strings.Join(list, ",")
}

func formatAddress(ings []networkingv1.IngressLoadBalancerIngress) string {
	var list []string
	for _, i := range ings {
		if i.IP != "" {
			list = append(list, i.IP)
		} else if i.Hostname != "" {
			list = append(list, i.Hostname)
		}
	}
	return strings.Join(list, ",")
}

var pathTypes = []string{string(networkingv1.PathTypeExact), string(networkingv1.PathTypePrefix), string(networkingv1.PathTypeImplementationSpecific)}

// invalidPathSequences may not appear in an Exact or Prefix path, as upstream.
var invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
var invalidPathSuffixes = []string{"/..", "/."}

// Validate checks an Ingress spec with upstream's paths and messages.
func Validate(ing *networkingv1.Ingress) field.ErrorList {
	sp := field.NewPath("spec")
	var errs field.ErrorList
	if ing.Spec.DefaultBackend == nil && len(ing.Spec.Rules) == 0 {
		errs = append(errs, field.Invalid(sp, ing.Spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if ing.Spec.DefaultBackend != nil {
		errs = append(errs, validateBackend(ing.Spec.DefaultBackend, sp.Child("defaultBackend"))...)
	}
	for i, r := range ing.Spec.Rules {
		rp := sp.Child("rules").Index(i)
		if r.Host != "" {
			errs = append(errs, validateHost(r.Host, rp.Child("host"))...)
		}
		if r.HTTP == nil {
			continue
		}
		hp := rp.Child("http")
		if len(r.HTTP.Paths) == 0 {
			errs = append(errs, field.Required(hp.Child("paths"), ""))
		}
		for j := range r.HTTP.Paths {
			errs = append(errs, validatePath(&r.HTTP.Paths[j], hp.Child("paths").Index(j))...)
		}
	}
	for i, tls := range ing.Spec.TLS {
		for j, h := range tls.Hosts {
			errs = append(errs, validateHost(h, sp.Child("tls").Index(i).Child("hosts").Index(j))...)
		}
		if tls.SecretName != "" {
			for _, msg := range validation.IsDNS1123Subdomain(tls.SecretName) {
				errs = append(errs, field.Invalid(sp.Child("tls").Index(i).Child("secretName"), tls.SecretName, msg))
			}
		}
	}
	if c := ing.Spec.IngressClassName; c != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*c) {
			errs = append(errs, field.Invalid(sp.Child("ingressClassName"), *c, msg))
		}
	}
	return errs
}

func validateHost(host string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if net.ParseIP(host) != nil {
		errs = append(errs, field.Invalid(p, host, "must be a DNS name, not an IP address"))
	}
	var msgs []string
	if strings.Contains(host, "*") {
		msgs = validation.IsWildcardDNS1123Subdomain(host)
	} else {
		msgs = validation.IsDNS1123Subdomain(host)
	}
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, host, msg))
	}
	return errs
}

func validatePath(path *networkingv1.HTTPIngressPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.PathType == nil {
		errs = append(errs, field.Required(p.Child("pathType"), "pathType must be specified"))
	} else {
		switch *path.PathType {
		case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
			if !strings.HasPrefix(path.Path, "/") {
				errs = append(errs, field.Invalid(p.Child("path"), path.Path, "must be an absolute path"))
			}
			for _, seq := range invalidPathSequences {
				if strings.Contains(path.Path, seq) {
					errs = append(errs, field.Invalid(p.Child("path"), path.Path, fmt.Sprintf("must not contain '%s'", seq)))
				}
			}
			for _, suf := range invalidPathSuffixes {
				if strings.HasSuffix(path.Path, suf) {
					errs = append(errs, field.Invalid(p.Child("path"), path.Path, fmt.Sprintf("cannot end with '%s'", suf)))
				}
			}
		case networkingv1.PathTypeImplementationSpecific:
			if path.Path != "" && !strings.HasPrefix(path.Path, "/") {
				errs = append(errs, field.Invalid(p.Child("path"), path.Path, "must be an absolute path"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("pathType"), *path.PathType, pathTypes))
		}
	}
	return append(errs, validateBackend(&path.Backend, p.Child("backend"))...)
}

func validateBackend(b *networkingv1.IngressBackend, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case b.Service != nil && b.Resource != nil:
		return field.ErrorList{field.Invalid(p, "", "cannot set both resource and service backends")}
	case b.Service == nil && b.Resource == nil:
		return field.ErrorList{field.Invalid(p, "", "resource or service backend is required")}
	case b.Resource != nil:
		r, rp := b.Resource, p.Child("resource")
		if r.Kind == "" {
			errs = append(errs, field.Required(rp.Child("kind"), ""))
		}
		if r.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		}
		if r.APIGroup != nil {
			for _, msg := range validation.IsDNS1123Subdomain(*r.APIGroup) {
				errs = append(errs, field.Invalid(rp.Child("apiGroup"), *r.APIGroup, msg))
			}
		}
		return errs
	}
	s, sp := b.Service, p.Child("service")
	if s.Name == "" {
		errs = append(errs, field.Required(sp.Child("name"), ""))
	} else {
		for _, msg := range validation.IsDNS1035Label(s.Name) {
			errs = append(errs, field.Invalid(sp.Child("name"), s.Name, msg))
		}
	}
	pp := sp.Child("port")
	switch {
	case s.Port.Name != "" && s.Port.Number != 0:
		errs = append(errs, field.Invalid(pp, s.Port, "cannot set both port name & port number"))
	case s.Port.Name != "":
		for _, msg := range validation.IsValidPortName(s.Port.Name) {
			errs = append(errs, field.Invalid(pp.Child("name"), s.Port.Name, msg))
		}
	case s.Port.Number != 0:
		for _, msg := range validation.IsValidPortNum(int(s.Port.Number)) {
			errs = append(errs, field.Invalid(pp.Child("number"), s.Port.Number, msg))
		}
	default:
		errs = append(errs, field.Required(pp, "port name or number is required"))
	}
	return errs
}

// ValidateStatus checks the load-balancer addresses an ingress controller reports.
func ValidateStatus(s *networkingv1.IngressStatus) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("status", "loadBalancer", "ingress")
	for i, lb := range s.LoadBalancer.Ingress {
		ip := p.Index(i)
		if lb.IP != "" {
			errs = append(errs, validation.IsValidIP(ip.Child("ip"), lb.IP)...)
		}
		if lb.Hostname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(lb.Hostname) {
				errs = append(errs, field.Invalid(ip.Child("hostname"), lb.Hostname, msg))
			}
			if net.ParseIP(lb.Hostname) != nil {
				errs = append(errs, field.Invalid(ip.Child("hostname"), lb.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}
