// Package ingressclass serves networking.k8s.io/v1 IngressClasses: which controller
// implements an Ingress, and which class new Ingresses get by default.
package ingressclass

import (
	"context"
	"sort"

	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// maxControllerLength bounds spec.controller, as upstream.
const maxControllerLength = 250

// Resource is ingressclasses.
var Resource = &store.Resource{
	Name: "ingressclasses", Singular: "ingressclass",
	New:      func() runtime.Object { return &networkingv1.IngressClass{} },
	NewList:  func() runtime.Object { return &networkingv1.IngressClassList{} },
	Defaults: func(obj runtime.Object) { Default(obj.(*networkingv1.IngressClass)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*networkingv1.IngressClass))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		c, o := obj.(*networkingv1.IngressClass), old.(*networkingv1.IngressClass)
		return append(Validate(c), apivalidation.ValidateImmutableField(c.Spec.Controller, o.Spec.Controller, field.NewPath("spec", "controller"))...)
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Controller", Type: "string", Description: "Controller that is responsible for handling this class"},
		{Name: "Parameters", Type: "string", Description: "A reference to a resource with additional parameters"},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*networkingv1.IngressClass)) },
}

// Default sets the scope of parameters to Cluster, as upstream v1 does.
func Default(c *networkingv1.IngressClass) {
	if p := c.Spec.Parameters; p != nil && p.Scope == nil {
		s := networkingv1.IngressClassParametersReferenceScopeCluster
		p.Scope = &s
	}
}

// Row prints a class; parameters read Kind.group/name.
func Row(c *networkingv1.IngressClass) []any {
	params := "<none>"
	if p := c.Spec.Parameters; p != nil {
		params = p.Kind
		if p.APIGroup != nil {
			params += "." + *p.APIGroup
		}
		params += "/" + p.Name
	}
	return []any{c.Name, c.Spec.Controller, params, store.Age(c.CreationTimestamp)}
}

// IsDefault reports whether the class carries the default-class annotation.
func IsDefault(c *networkingv1.IngressClass) bool {
	return c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true"
}

// DefaultClass picks the class new Ingresses get: the newest marked default, as upstream's
// DefaultIngressClass admission does; "" when none is.
func DefaultClass(classes []networkingv1.IngressClass) string {
	var defaults []networkingv1.IngressClass
	for _, c := range classes {
		if IsDefault(&c) {
			defaults = append(defaults, c)
		}
	}
	if len(defaults) == 0 {
		return ""
	}
	sort.Slice(defaults, func(i, j int) bool {
		ti, tj := defaults[i].CreationTimestamp, defaults[j].CreationTimestamp
		if ti.Equal(&tj) {
			return defaults[i].Name < defaults[j].Name
		}
		return tj.Before(&ti)
	})
	return defaults[0].Name
}

// Validate checks the controller and the parameters reference.
func Validate(c *networkingv1.IngressClass) field.ErrorList {
	var errs field.ErrorList
	cp := field.NewPath("spec", "controller")
	if len(c.Spec.Controller) > maxControllerLength {
		errs = append(errs, field.TooLong(cp, c.Spec.Controller, maxControllerLength))
	}
	errs = append(errs, validation.IsDomainPrefixedPath(cp, c.Spec.Controller)...)
	if p := c.Spec.Parameters; p != nil {
		pp := field.NewPath("spec", "parameters")
		if p.APIGroup != nil {
			for _, msg := range validation.IsDNS1123Subdomain(*p.APIGroup) {
				errs = append(errs, field.Invalid(pp.Child("apiGroup"), *p.APIGroup, msg))
			}
		}
		if p.Kind == "" {
			errs = append(errs, field.Required(pp.Child("kind"), "kind is required"))
		}
		if p.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), "name is required"))
		}
		scopes := []string{networkingv1.IngressClassParametersReferenceScopeNamespace, networkingv1.IngressClassParametersReferenceScopeCluster}
		switch {
		case p.Scope == nil:
			errs = append(errs, field.Required(pp.Child("scope"), ""))
		case *p.Scope == networkingv1.IngressClassParametersReferenceScopeNamespace:
			if p.Namespace == nil {
				errs = append(errs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
			} else {
				for _, msg := range validation.IsDNS1123Label(*p.Namespace) {
					errs = append(errs, field.Invalid(pp.Child("namespace"), *p.Namespace, msg))
				}
			}
		case *p.Scope == networkingv1.IngressClassParametersReferenceScopeCluster:
			if p.Namespace != nil {
				errs = append(errs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
			}
		default:
			errs = append(errs, field.NotSupported(pp.Child("scope"), *p.Scope, scopes))
		}
	}
	return errs
}
