// Package mutatingadmissionpolicybinding serves admissionregistration.k8s.io/v1
// MutatingAdmissionPolicyBindings: which requests a mutating policy applies to, with
// which parameters.
package mutatingadmissionpolicybinding

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/admissionutil"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is mutatingadmissionpolicybindings.
var Resource = &store.Resource{
	Name: "mutatingadmissionpolicybindings", Singular: "mutatingadmissionpolicybinding",
	Categories: admissionutil.Category, Generation: true,
	New:     func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBinding{} },
	NewList: func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBindingList{} },
	Defaults: func(obj runtime.Object) {
		admissionutil.DefaultMatchResources(obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Spec.MatchResources)
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding))
	},
	Columns: admissionutil.BindingColumns,
	Row: func(obj runtime.Object) []any {
		b := obj.(*admissionregistrationv1.MutatingAdmissionPolicyBinding)
		return []any{b.Name, b.Spec.PolicyName, admissionutil.ParamRef(b.Spec.ParamRef), store.Age(b.CreationTimestamp)}
	},
}

// Validate checks the policy name, parameters and match resources.
func Validate(b *admissionregistrationv1.MutatingAdmissionPolicyBinding) field.ErrorList {
	sp := field.NewPath("spec")
	errs := admissionutil.ValidatePolicyName(b.Spec.PolicyName, sp.Child("policyName"))
	errs = append(errs, admissionutil.ValidateParamRef(b.Spec.ParamRef, sp.Child("paramRef"))...)
	errs = append(errs, admissionutil.ValidateMatchResources(b.Spec.MatchResources, false, sp.Child("matchResources"))...)
	return errs
}
