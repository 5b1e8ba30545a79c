package service

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/core/endpoints"
)

const validIPMsg = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"

var (
	supportedTypes    = sets.New(string(corev1.ServiceTypeClusterIP), string(corev1.ServiceTypeNodePort), string(corev1.ServiceTypeLoadBalancer), string(corev1.ServiceTypeExternalName))
	supportedAffinity = sets.New(string(corev1.ServiceAffinityClientIP), string(corev1.ServiceAffinityNone))
	supportedETP      = sets.New(string(corev1.ServiceExternalTrafficPolicyCluster), string(corev1.ServiceExternalTrafficPolicyLocal))
	supportedITP      = sets.New(string(corev1.ServiceInternalTrafficPolicyCluster), string(corev1.ServiceInternalTrafficPolicyLocal))
	supportedPolicies = sets.New(string(corev1.IPFamilyPolicySingleStack), string(corev1.IPFamilyPolicyPreferDualStack), string(corev1.IPFamilyPolicyRequireDualStack))
	supportedFamilies = sets.New(string(corev1.IPv4Protocol), string(corev1.IPv6Protocol))
)

// ValidateName checks a Service name: a DNS-1035 label, as upstream.
func ValidateName(name string, prefix bool) []string {
	if prefix && strings.HasSuffix(name, "-") && len(name) > 1 {
		name = name[:len(name)-1] + "a"
	}
	return validation.IsDNS1035Label(name)
}

// Validate checks a Service spec with upstream's field paths and messages, for a
// single-stack IPv4 cluster.
func Validate(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	s := &svc.Spec
	spec := field.NewPath("spec")

	if !supportedTypes.Has(string(s.Type)) {
		errs = append(errs, field.NotSupported(spec.Child("type"), s.Type, sets.List(supportedTypes)))
	}
	if len(s.Ports) == 0 && !isHeadless(svc) && s.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(spec.Child("ports"), ""))
	}
	errs = append(errs, validatePorts(svc)...)
	errs = append(errs, metav1validation.ValidateLabels(s.Selector, spec.Child("selector"))...)

	if !supportedAffinity.Has(string(s.SessionAffinity)) {
		errs = append(errs, field.NotSupported(spec.Child("sessionAffinity"), s.SessionAffinity, sets.List(supportedAffinity)))
	}
	if c := s.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
			errs = append(errs, field.Invalid(spec.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t,
				fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds)))
		}
	}

	errs = append(errs, validateClusterIPs(svc)...)

	for i, ip := range s.ExternalIPs {
		p := spec.Child("externalIPs").Index(i)
		if parsed := net.ParseIP(ip); parsed == nil {
			errs = append(errs, field.Invalid(p, ip, validIPMsg))
		} else if parsed.IsUnspecified() || parsed.IsLoopback() || parsed.IsMulticast() || parsed.IsLinkLocalUnicast() {
			errs = append(errs, field.Invalid(p, ip, "may not be unspecified, loopback, multicast or link-local"))
		}
	}

	external := s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer || len(s.ExternalIPs) > 0
	switch {
	case s.ExternalTrafficPolicy != "" && !external:
		errs = append(errs, field.Invalid(spec.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy,
			"may only be set for externally-accessible services"))
	case s.ExternalTrafficPolicy == "" && (s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer):
		errs = append(errs, field.Required(spec.Child("externalTrafficPolicy"), ""))
	case s.ExternalTrafficPolicy != "" && !supportedETP.Has(string(s.ExternalTrafficPolicy)):
		errs = append(errs, field.NotSupported(spec.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, sets.List(supportedETP)))
	}
	if s.Type != corev1.ServiceTypeExternalName {
		if s.InternalTrafficPolicy == nil {
			errs = append(errs, field.Required(spec.Child("internalTrafficPolicy"), ""))
		} else if !supportedITP.Has(string(*s.InternalTrafficPolicy)) {
			errs = append(errs, field.NotSupported(spec.Child("internalTrafficPolicy"), *s.InternalTrafficPolicy, sets.List(supportedITP)))
		}
	}
	if s.HealthCheckNodePort != 0 && !needsHCNodePort(svc) {
		errs = append(errs, field.Invalid(spec.Child("healthCheckNodePort"), s.HealthCheckNodePort,
			"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	}
	if s.Type == corev1.ServiceTypeLoadBalancer {
		if s.AllocateLoadBalancerNodePorts == nil {
			errs = append(errs, field.Required(spec.Child("allocateLoadBalancerNodePorts"), ""))
		}
	} else {
		if s.AllocateLoadBalancerNodePorts != nil {
			errs = append(errs, field.Forbidden(spec.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
		}
		if len(s.LoadBalancerSourceRanges) > 0 {
			errs = append(errs, field.Forbidden(spec.Child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"))
		}
		if s.LoadBalancerClass != nil {
			errs = append(errs, field.Forbidden(spec.Child("loadBalancerClass"), "may only be used when service type is 'LoadBalancer'"))
		}
	}
	for i, r := range s.LoadBalancerSourceRanges {
		if _, _, err := net.ParseCIDR(strings.TrimSpace(r)); err != nil {
			errs = append(errs, field.Invalid(spec.Child("loadBalancerSourceRanges").Index(i), r,
				"must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 "))
		}
	}
	if s.Type == corev1.ServiceTypeExternalName {
		cname := strings.TrimSuffix(s.ExternalName, ".")
		if cname == "" {
			errs = append(errs, field.Required(spec.Child("externalName"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(cname) {
				errs = append(errs, field.Invalid(spec.Child("externalName"), cname, msg))
			}
		}
	}
	return errs
}

func validatePorts(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	s := &svc.Spec
	names := map[string]bool{}
	type key struct {
		port  int32
		proto corev1.Protocol
	}
	ports, nodePorts := map[key]bool{}, map[key]bool{}
	for i, sp := range s.Ports {
		p := field.NewPath("spec", "ports").Index(i)
		errs = append(errs, endpoints.ValidatePort(sp.Name, sp.Port, sp.Protocol, len(s.Ports) > 1, names, p)...)
		if sp.TargetPort.Type == intstr.Int {
			for _, msg := range validation.IsValidPortNum(sp.TargetPort.IntValue()) {
				errs = append(errs, field.Invalid(p.Child("targetPort"), sp.TargetPort.IntVal, msg))
			}
		} else {
			for _, msg := range validation.IsValidPortName(sp.TargetPort.StrVal) {
				errs = append(errs, field.Invalid(p.Child("targetPort"), sp.TargetPort.StrVal, msg))
			}
		}
		if k := (key{sp.Port, sp.Protocol}); ports[k] {
			errs = append(errs, field.Duplicate(p, corev1.ServicePort{Port: sp.Port, Protocol: sp.Protocol}))
		} else {
			ports[k] = true
		}
		if sp.NodePort != 0 {
			if s.Type == corev1.ServiceTypeClusterIP || s.Type == corev1.ServiceTypeExternalName {
				errs = append(errs, field.Forbidden(p.Child("nodePort"), fmt.Sprintf("may not be used when `type` is '%s'", s.Type)))
			}
			for _, msg := range validation.IsValidPortNum(int(sp.NodePort)) {
				errs = append(errs, field.Invalid(p.Child("nodePort"), sp.NodePort, msg))
			}
			if k := (key{sp.NodePort, sp.Protocol}); nodePorts[k] {
				errs = append(errs, field.Duplicate(p.Child("nodePort"), sp.NodePort))
			} else {
				nodePorts[k] = true
			}
		}
	}
	return errs
}

func validateClusterIPs(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	s := &svc.Spec
	spec := field.NewPath("spec")
	ipsPath := spec.Child("clusterIPs")
	if s.Type == corev1.ServiceTypeExternalName {
		if len(s.ClusterIPs) > 0 || s.ClusterIP != "" {
			errs = append(errs, field.Forbidden(ipsPath, "may not be set for ExternalName services"))
		}
		if s.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(spec.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		if len(s.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(spec.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		return errs
	}
	if len(s.ClusterIPs) > 0 && s.ClusterIP != s.ClusterIPs[0] {
		errs = append(errs, field.Invalid(ipsPath, s.ClusterIPs, "first value must match `clusterIP`"))
	}
	for i, ip := range s.ClusterIPs {
		p := ipsPath.Index(i)
		if ip == corev1.ClusterIPNone {
			if i > 0 || len(s.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(p, ip, "'None' must be the first and only value"))
			}
			continue
		}
		parsed := net.ParseIP(ip)
		if parsed == nil {
			errs = append(errs, field.Invalid(p, ip, validIPMsg))
			continue
		}
		if parsed.To4() == nil {
			errs = append(errs, field.Invalid(p, ip, "expected an IPv4 value as indicated by `ipFamilies[0]`"))
		}
		if i > 0 {
			errs = append(errs, field.Invalid(p, ip, "may not be set: this cluster is not configured for dual-stack services"))
		}
	}
	if isHeadless(svc) {
		switch s.Type {
		case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
			errs = append(errs, field.Invalid(ipsPath.Index(0), corev1.ClusterIPNone,
				fmt.Sprintf("may not be set to 'None' for %s services", s.Type)))
		}
	}
	if p := s.IPFamilyPolicy; p != nil {
		if !supportedPolicies.Has(string(*p)) {
			errs = append(errs, field.NotSupported(spec.Child("ipFamilyPolicy"), *p, sets.List(supportedPolicies)))
		} else if *p == corev1.IPFamilyPolicyRequireDualStack && !(isHeadless(svc) && len(s.Selector) == 0) {
			errs = append(errs, field.Invalid(spec.Child("ipFamilyPolicy"), *p, "this cluster is not configured for dual-stack services"))
		}
	}
	for i, f := range s.IPFamilies {
		p := spec.Child("ipFamilies").Index(i)
		switch {
		case !supportedFamilies.Has(string(f)):
			errs = append(errs, field.NotSupported(p, f, sets.List(supportedFamilies)))
		case f != corev1.IPv4Protocol:
			errs = append(errs, field.Invalid(p, f, "not configured on this cluster"))
		case i > 0:
			errs = append(errs, field.Duplicate(p, f))
		}
	}
	return errs
}

// ValidateUpdate checks a Service update: the spec, and that its ClusterIP stays.
func ValidateUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := Validate(svc)
	if svc.Spec.Type != corev1.ServiceTypeExternalName && old.Spec.Type != corev1.ServiceTypeExternalName &&
		len(old.Spec.ClusterIPs) > 0 && len(svc.Spec.ClusterIPs) > 0 && old.Spec.ClusterIPs[0] != svc.Spec.ClusterIPs[0] {
		errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIPs[0], "may not change once set"))
	}
	return errs
}

// ValidateStatus checks the load balancer ingress points of a status update.
func ValidateStatus(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		p := field.NewPath("status", "loadBalancer", "ingress").Index(i)
		if ing.IP != "" && net.ParseIP(ing.IP) == nil {
			errs = append(errs, field.Invalid(p.Child("ip"), ing.IP, validIPMsg))
		}
		if ing.Hostname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(ing.Hostname) {
				errs = append(errs, field.Invalid(p.Child("hostname"), ing.Hostname, msg))
			}
			if net.ParseIP(ing.Hostname) != nil {
				errs = append(errs, field.Invalid(p.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}

// maxClientIPAffinitySeconds is the longest ClientIP session affinity, as upstream.
const maxClientIPAffinitySeconds = 86400
