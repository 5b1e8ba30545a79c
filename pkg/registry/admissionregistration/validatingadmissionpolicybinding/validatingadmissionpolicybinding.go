// Package validatingadmissionpolicybinding serves admissionregistration.k8s.io/v1
// ValidatingAdmissionPolicyBindings: which requests a policy applies to, with which
// parameters and actions.
package validatingadmissionpolicybinding

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/admissionutil"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is validatingadmissionpolicybindings.
var Resource = &store.Resource{
	Name: "validatingadmissionpolicybindings", Singular: "validatingadmissionpolicybinding",
	Categories: admissionutil.Category, Generation: true,
	New:     func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{} },
	NewList: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{} },
	Defaults: func(obj runtime.Object) {
		admissionutil.DefaultMatchResources(obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding).Spec.MatchResources)
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding))
	},
	Columns: admissionutil.BindingColumns,
	Row: func(obj runtime.Object) []any {
		b := obj.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)
		return []any{b.Name, b.Spec.PolicyName, admissionutil.ParamRef(b.Spec.ParamRef), store.Age(b.CreationTimestamp)}
	},
}

var actions = []string{string(admissionregistrationv1.Deny), string(admissionregistrationv1.Warn), string(admissionregistrationv1.Audit)}

// Validate checks the policy name, parameters, match resources and validation actions.
func Validate(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) field.ErrorList {
	sp := field.NewPath("spec")
	errs := admissionutil.ValidatePolicyName(b.Spec.PolicyName, sp.Child("policyName"))
	errs = append(errs, admissionutil.ValidateParamRef(b.Spec.ParamRef, sp.Child("paramRef"))...)
	errs = append(errs, admissionutil.ValidateMatchResources(b.Spec.MatchResources, false, sp.Child("matchResources"))...)
	ap := sp.Child("validationActions")
	if len(b.Spec.ValidationActions) == 0 {
		errs = append(errs, field.Required(ap, "at least one validation action is required"))
	}
	seen := sets.New[admissionregistrationv1.ValidationAction]()
	for i, a := range b.Spec.ValidationActions {
		if seen.Has(a) {
			errs = append(errs, field.Duplicate(ap.Index(i), a))
		}
		seen.Insert(a)
		if !sets.New(actions...).Has(string(a)) {
			errs = append(errs, field.NotSupported(ap.Index(i), a, actions))
		}
	}
	if seen.Has(admissionregistrationv1.Deny) && seen.Has(admissionregistrationv1.Warn) {
		errs = append(errs, field.Invalid(ap, b.Spec.ValidationActions, "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"))
	}
	return errs
}
