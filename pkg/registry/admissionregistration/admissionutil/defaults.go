// Package admissionutil holds what the admissionregistration.k8s.io resources share:
// defaults and validation of rules, selectors, webhooks, parameter references and CEL
// expressions, with upstream's field paths and messages.
package admissionutil

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Category is the category every admissionregistration resource belongs to.
var Category = []string{"api-extensions"}

// DefaultRules sets an unset rule scope to "*".
func DefaultRules(rules []admissionregistrationv1.RuleWithOperations) {
	for i := range rules {
		defaultRule(&rules[i].Rule)
	}
}

func defaultRule(r *admissionregistrationv1.Rule) {
	if r.Scope == nil {
		s := admissionregistrationv1.AllScopes
		r.Scope = &s
	}
}

// DefaultSelector returns sel, or the empty selector (matching everything) when nil.
func DefaultSelector(sel *metav1.LabelSelector) *metav1.LabelSelector {
	if sel == nil {
		return &metav1.LabelSelector{}
	}
	return sel
}

// DefaultFailurePolicy returns p, or Fail when nil.
func DefaultFailurePolicy(p *admissionregistrationv1.FailurePolicyType) *admissionregistrationv1.FailurePolicyType {
	if p == nil {
		f := admissionregistrationv1.Fail
		return &f
	}
	return p
}

// DefaultMatchPolicy returns p, or Equivalent when nil.
func DefaultMatchPolicy(p *admissionregistrationv1.MatchPolicyType) *admissionregistrationv1.MatchPolicyType {
	if p == nil {
		m := admissionregistrationv1.Equivalent
		return &m
	}
	return p
}

// DefaultClientConfig sets the port of a service reference to 443.
func DefaultClientConfig(c *admissionregistrationv1.WebhookClientConfig) {
	if c.Service != nil && c.Service.Port == nil {
		p := int32(443)
		c.Service.Port = &p
	}
}

// DefaultTimeout returns t, or 10 seconds when nil.
func DefaultTimeout(t *int32) *int32 {
	if t == nil {
		v := int32(10)
		return &v
	}
	return t
}

// DefaultMatchResources fills the selectors, match policy and rule scopes of policy
// match constraints and binding match resources.
func DefaultMatchResources(m *admissionregistrationv1.MatchResources) {
	if m == nil {
		return
	}
	m.NamespaceSelector = DefaultSelector(m.NamespaceSelector)
	m.ObjectSelector = DefaultSelector(m.ObjectSelector)
	m.MatchPolicy = DefaultMatchPolicy(m.MatchPolicy)
	for i := range m.ResourceRules {
		defaultRule(&m.ResourceRules[i].Rule)
	}
	for i := range m.ExcludeResourceRules {
		defaultRule(&m.ExcludeResourceRules[i].Rule)
	}
}
