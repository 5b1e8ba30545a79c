// Package networkpolicy serves networking.k8s.io/v1 NetworkPolicies: which traffic may
// reach and leave the pods a policy selects.
package networkpolicy

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is networkpolicies.
var Resource = &store.Resource{
	Name: "networkpolicies", Singular: "networkpolicy", Namespaced: true, ShortNames: []string{"netpol"},
	Generation: true,
	New:        func() runtime.Object { return &networkingv1.NetworkPolicy{} },
	NewList:    func() runtime.Object { return &networkingv1.NetworkPolicyList{} },
	Defaults:   func(obj runtime.Object) { Default(obj.(*networkingv1.NetworkPolicy)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*networkingv1.NetworkPolicy))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Pod-Selector", Type: "string", Description: networkingv1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		np := obj.(*networkingv1.NetworkPolicy)
		return []any{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), store.Age(np.CreationTimestamp)}
	},
}

// Default sets port protocols to TCP and, when none are given, the policy types: Ingress
// always, Egress when egress rules exist.
func Default(np *networkingv1.NetworkPolicy) {
	tcp := corev1.ProtocolTCP
	for i := range np.Spec.Ingress {
		for j := range np.Spec.Ingress[i].Ports {
			if np.Spec.Ingress[i].Ports[j].Protocol == nil {
				np.Spec.Ingress[i].Ports[j].Protocol = &tcp
			}
		}
	}
	for i := range np.Spec.Egress {
		for j := range np.Spec.Egress[i].Ports {
			if np.Spec.Egress[i].Ports[j].Protocol == nil {
				np.Spec.Egress[i].Ports[j].Protocol = &tcp
			}
		}
	}
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) != 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
}

var protocols = []string{string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP)}

// Validate checks selectors, ports, peers and policy types with upstream's messages.
func Validate(np *networkingv1.NetworkPolicy) field.ErrorList {
	sp := field.NewPath("spec")
	opts := metavalidation.LabelSelectorValidationOptions{}
	errs := metavalidation.ValidateLabelSelector(&np.Spec.PodSelector, opts, sp.Child("podSelector"))
	for i, rule := range np.Spec.Ingress {
		p := sp.Child("ingress").Index(i)
		for j := range rule.Ports {
			errs = append(errs, validatePort(&rule.Ports[j], p.Child("ports").Index(j))...)
		}
		for j := range rule.From {
			errs = append(errs, validatePeer(&rule.From[j], p.Child("from").Index(j))...)
		}
	}
	for i, rule := range np.Spec.Egress {
		p := sp.Child("egress").Index(i)
		for j := range rule.Ports {
			errs = append(errs, validatePort(&rule.Ports[j], p.Child("ports").Index(j))...)
		}
		for j := range rule.To {
			errs = append(errs, validatePeer(&rule.To[j], p.Child("to").Index(j))...)
		}
	}
	types := []string{string(networkingv1.PolicyTypeIngress), string(networkingv1.PolicyTypeEgress)}
	for i, t := range np.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(sp.Child("policyTypes").Index(i), t, types))
		}
	}
	if len(np.Spec.PolicyTypes) > len(types) {
		errs = append(errs, field.Invalid(sp.Child("policyTypes"), np.Spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	return errs
}

func validatePort(port *networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port.Protocol != nil && !slices.Contains(protocols, string(*port.Protocol)) {
		errs = append(errs, field.NotSupported(p.Child("protocol"), *port.Protocol, protocols))
	}
	if port.Port == nil {
		if port.EndPort != nil {
			errs = append(errs, field.Required(p.Child("port"), "must be specified when endPort is specified"))
		}
		return errs
	}
	if port.Port.Type == intstr.Int {
		for _, msg := range validation.IsValidPortNum(int(port.Port.IntVal)) {
			errs = append(errs, field.Invalid(p.Child("port"), port.Port.IntVal, msg))
		}
		if port.EndPort != nil {
			if *port.EndPort < port.Port.IntVal {
				errs = append(errs, field.Invalid(p.Child("endPort"), port.Port.IntVal, "must be greater than or equal to `port`"))
			}
			for _, msg := range validation.IsValidPortNum(int(*port.EndPort)) {
				errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, msg))
			}
		}
		return errs
	}
	if port.EndPort != nil {
		errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
	}
	for _, msg := range validation.IsValidPortName(port.Port.StrVal) {
		errs = append(errs, field.Invalid(p.Child("port"), port.Port.StrVal, msg))
	}
	return errs
}

func validatePeer(peer *networkingv1.NetworkPolicyPeer, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	opts := metavalidation.LabelSelectorValidationOptions{}
	n := 0
	if peer.PodSelector != nil {
		n++
		errs = append(errs, metavalidation.ValidateLabelSelector(peer.PodSelector, opts, p.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		n++
		errs = append(errs, metavalidation.ValidateLabelSelector(peer.NamespaceSelector, opts, p.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		n++
		errs = append(errs, validateIPBlock(peer.IPBlock, p.Child("ipBlock"))...)
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(p, "must specify a peer"))
	case n > 1 && peer.IPBlock != nil:
		errs = append(errs, field.Forbidden(p, "may not specify both ipBlock and another peer"))
	}
	return errs
}

func validateIPBlock(b *networkingv1.IPBlock, p *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(p.Child("cidr"), "")}
	}
	errs := validation.IsValidCIDRForLegacyField(p.Child("cidr"), b.CIDR, false, nil)
	if len(errs) > 0 {
		return errs
	}
	_, cidr, _ := netutils.ParseCIDRSloppy(b.CIDR)
	ones, bits := cidr.Mask.Size()
	for i, e := range b.Except {
		ep := p.Child("except").Index(i)
		if exErrs := validation.IsValidCIDRForLegacyField(ep, e, false, nil); len(exErrs) > 0 {
			errs = append(errs, exErrs...)
			continue
		}
		_, ex, _ := netutils.ParseCIDRSloppy(e)
		exOnes, exBits := ex.Mask.Size()
		if !cidr.Contains(ex.IP) || exBits != bits || exOnes <= ones {
			errs = append(errs, field.Invalid(ep, e, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}
