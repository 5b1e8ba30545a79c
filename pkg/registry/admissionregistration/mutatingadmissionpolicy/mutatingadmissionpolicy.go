// Package mutatingadmissionpolicy serves admissionregistration.k8s.io/v1
// MutatingAdmissionPolicies: CEL mutations (apply configurations or JSON patches) the
// apiserver's policy admission plugin applies to the requests its bindings select.
package mutatingadmissionpolicy

import (
	"context"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/admissionutil"
	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/validatingadmissionpolicy"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is mutatingadmissionpolicies.
var Resource = &store.Resource{
	Name: "mutatingadmissionpolicies", Singular: "mutatingadmissionpolicy",
	Categories: admissionutil.Category, Generation: true,
	New:      func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicy{} },
	NewList:  func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyList{} },
	Defaults: func(obj runtime.Object) { Default(obj.(*admissionregistrationv1.MutatingAdmissionPolicy)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*admissionregistrationv1.MutatingAdmissionPolicy))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Mutations", Type: "integer", Description: "Mutation indicates the number of mutations rules defined in this configuration"},
		{Name: "ParamKind", Type: "string", Description: "ParamKind specifies the kind of resources used to parameterize this policy"},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		p := obj.(*admissionregistrationv1.MutatingAdmissionPolicy)
		return []any{p.Name, int64(len(p.Spec.Mutations)), validatingadmissionpolicy.ParamKind(p.Spec.ParamKind), store.Age(p.CreationTimestamp)}
	},
}

// Default fills the failure policy and match constraints as upstream v1 does.
func Default(p *admissionregistrationv1.MutatingAdmissionPolicy) {
	p.Spec.FailurePolicy = admissionutil.DefaultFailurePolicy(p.Spec.FailurePolicy)
	admissionutil.DefaultMatchResources(p.Spec.MatchConstraints)
}

var patchTypes = []string{string(admissionregistrationv1.PatchTypeApplyConfiguration), string(admissionregistrationv1.PatchTypeJSONPatch)}

// Validate checks the structure of a policy and compiles its CEL expressions.
func Validate(p *admissionregistrationv1.MutatingAdmissionPolicy) field.ErrorList {
	sp := field.NewPath("spec")
	s := &p.Spec
	cel, errs := admissionutil.ValidatePolicy(s.ParamKind, s.MatchConstraints, s.FailurePolicy, s.Variables, s.MatchConditions, true, sp)
	errs = append(errs, admissionutil.ValidateReinvocationPolicy(s.ReinvocationPolicy, sp.Child("reinvocationPolicy"))...)
	if len(s.Mutations) == 0 {
		errs = append(errs, field.Required(sp.Child("mutations"), "mutations must contain at least one item"))
	}
	for i, m := range s.Mutations {
		mp := sp.Child("mutations").Index(i)
		var expr string
		var exprPath *field.Path
		switch m.PatchType {
		case "":
			errs = append(errs, field.Required(mp.Child("patchType"), ""))
		case admissionregistrationv1.PatchTypeApplyConfiguration:
			if m.JSONPatch != nil {
				errs = append(errs, field.Forbidden(mp.Child("jsonPatch"), "must not be specified when patchType is ApplyConfiguration"))
			}
			if m.ApplyConfiguration == nil {
				errs = append(errs, field.Required(mp.Child("applyConfiguration"), "must be specified when patchType is ApplyConfiguration"))
			} else {
				expr, exprPath = m.ApplyConfiguration.Expression, mp.Child("applyConfiguration", "expression")
			}
		case admissionregistrationv1.PatchTypeJSONPatch:
			if m.ApplyConfiguration != nil {
				errs = append(errs, field.Forbidden(mp.Child("applyConfiguration"), "must not be specified when patchType is JSONPatch"))
			}
			if m.JSONPatch == nil {
				errs = append(errs, field.Required(mp.Child("jsonPatch"), "must be specified when patchType is JSONPatch"))
			} else {
				expr, exprPath = m.JSONPatch.Expression, mp.Child("jsonPatch", "expression")
			}
		default:
			errs = append(errs, field.NotSupported(mp.Child("patchType"), m.PatchType, patchTypes))
		}
		if exprPath == nil {
			continue
		}
		if strings.TrimSpace(expr) == "" {
			errs = append(errs, field.Required(exprPath, ""))
		} else {
			errs = append(errs, cel.Check(expr, admissionutil.AnyResult, exprPath)...)
		}
	}
	return errs
}
