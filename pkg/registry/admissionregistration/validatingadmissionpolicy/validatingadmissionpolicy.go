// Package validatingadmissionpolicy serves admissionregistration.k8s.io/v1
// ValidatingAdmissionPolicies: CEL validations the apiserver's policy admission plugin
// applies to the requests its bindings select.
package validatingadmissionpolicy

import (
	"context"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/admissionutil"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is validatingadmissionpolicies.
var Resource = &store.Resource{
	Name: "validatingadmissionpolicies", Singular: "validatingadmissionpolicy",
	Categories: admissionutil.Category, Generation: true, Status: true,
	New:      func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicy{} },
	NewList:  func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyList{} },
	Defaults: func(obj runtime.Object) { Default(obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*admissionregistrationv1.ValidatingAdmissionPolicy))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		p := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
		return metavalidation.ValidateConditions(p.Status.Conditions, field.NewPath("status", "conditions"))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Validations", Type: "integer", Description: "Validations indicates the number of validation rules defined in this configuration"},
		{Name: "ParamKind", Type: "string", Description: "ParamKind specifies the kind of resources used to parameterize this policy"},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		p := obj.(*admissionregistrationv1.ValidatingAdmissionPolicy)
		return []any{p.Name, int64(len(p.Spec.Validations)), ParamKind(p.Spec.ParamKind), store.Age(p.CreationTimestamp)}
	},
}

// ParamKind prints a paramKind as apiVersion/kind, "<unset>" when there is none.
func ParamKind(pk *admissionregistrationv1.ParamKind) string {
	if pk == nil {
		return "<unset>"
	}
	return pk.APIVersion + "/" + pk.Kind
}

// Default fills the failure policy and match constraints as upstream v1 does.
func Default(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
	p.Spec.FailurePolicy = admissionutil.DefaultFailurePolicy(p.Spec.FailurePolicy)
	admissionutil.DefaultMatchResources(p.Spec.MatchConstraints)
}

var reasons = []string{string(metav1.StatusReasonUnauthorized), string(metav1.StatusReasonForbidden), string(metav1.StatusReasonInvalid), string(metav1.StatusReasonRequestEntityTooLarge)}

// Validate checks the structure of a policy and compiles its CEL expressions.
func Validate(p *admissionregistrationv1.ValidatingAdmissionPolicy) field.ErrorList {
	sp := field.NewPath("spec")
	s := &p.Spec
	cel, errs := admissionutil.ValidatePolicy(s.ParamKind, s.MatchConstraints, s.FailurePolicy, s.Variables, s.MatchConditions, false, sp)
	if len(s.Validations) == 0 && len(s.AuditAnnotations) == 0 {
		errs = append(errs, field.Required(sp.Child("validations"), "validations or auditAnnotations must contain at least one item"))
	}
	for i, v := range s.Validations {
		vp := sp.Child("validations").Index(i)
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(vp.Child("expression"), "expression is not specified"))
		} else {
			errs = append(errs, cel.Check(v.Expression, admissionutil.BoolResult, vp.Child("expression"))...)
		}
		if strings.Contains(v.Message, "\n") {
			errs = append(errs, field.Invalid(vp.Child("message"), v.Message, "message must not contain line breaks"))
		} else if len(v.Message) > 0 && strings.TrimSpace(v.Message) == "" {
			errs = append(errs, field.Invalid(vp.Child("message"), v.Message, "message must be non-empty if specified"))
		}
		if v.MessageExpression != "" {
			errs = append(errs, cel.Check(v.MessageExpression, admissionutil.StringResult, vp.Child("messageExpression"))...)
		}
		if v.Reason != nil && !sets.New(reasons...).Has(string(*v.Reason)) {
			errs = append(errs, field.NotSupported(vp.Child("reason"), *v.Reason, reasons))
		}
	}
	keys := sets.New[string]()
	for i, a := range s.AuditAnnotations {
		ap := sp.Child("auditAnnotations").Index(i)
		if a.Key == "" {
			errs = append(errs, field.Required(ap.Child("key"), ""))
		} else {
			for _, msg := range validation.IsQualifiedName(fmt.Sprintf("%s/%s", p.Name, a.Key)) {
				errs = append(errs, field.Invalid(ap.Child("key"), a.Key, msg))
			}
			if keys.Has(a.Key) {
				errs = append(errs, field.Duplicate(ap.Child("key"), a.Key))
			}
			keys.Insert(a.Key)
		}
		if strings.TrimSpace(a.ValueExpression) == "" {
			errs = append(errs, field.Required(ap.Child("valueExpression"), "valueExpression is not specified"))
		} else {
			errs = append(errs, cel.Check(a.ValueExpression, admissionutil.StringOrNull, ap.Child("valueExpression"))...)
		}
	}
	return errs
}
