package admissionutil

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Webhook points at the fields validating and mutating webhooks share, so that one
// piece of code defaults and validates both kinds.
type Webhook struct {
	Name                    string
	ClientConfig            *admissionregistrationv1.WebhookClientConfig
	Rules                   []admissionregistrationv1.RuleWithOperations
	FailurePolicy           **admissionregistrationv1.FailurePolicyType
	MatchPolicy             **admissionregistrationv1.MatchPolicyType
	NamespaceSelector       **metav1.LabelSelector
	ObjectSelector          **metav1.LabelSelector
	SideEffects             *admissionregistrationv1.SideEffectClass
	TimeoutSeconds          **int32
	AdmissionReviewVersions []string
	MatchConditions         []admissionregistrationv1.MatchCondition
}

// ValidatingWebhook is the shared view of w.
func ValidatingWebhook(w *admissionregistrationv1.ValidatingWebhook) *Webhook {
	return &Webhook{
		Name: w.Name, ClientConfig: &w.ClientConfig, Rules: w.Rules, FailurePolicy: &w.FailurePolicy,
		MatchPolicy: &w.MatchPolicy, NamespaceSelector: &w.NamespaceSelector, ObjectSelector: &w.ObjectSelector,
		SideEffects: w.SideEffects, TimeoutSeconds: &w.TimeoutSeconds, AdmissionReviewVersions: w.AdmissionReviewVersions,
		MatchConditions: w.MatchConditions,
	}
}

// MutatingWebhook is the shared view of w (all but its reinvocationPolicy).
func MutatingWebhook(w *admissionregistrationv1.MutatingWebhook) *Webhook {
	return &Webhook{
		Name: w.Name, ClientConfig: &w.ClientConfig, Rules: w.Rules, FailurePolicy: &w.FailurePolicy,
		MatchPolicy: &w.MatchPolicy, NamespaceSelector: &w.NamespaceSelector, ObjectSelector: &w.ObjectSelector,
		SideEffects: w.SideEffects, TimeoutSeconds: &w.TimeoutSeconds, AdmissionReviewVersions: w.AdmissionReviewVersions,
		MatchConditions: w.MatchConditions,
	}
}

// WebhookColumns are the printed columns of both kinds of webhook configuration; the
// row is name, number of webhooks, age.
var WebhookColumns = []metav1.TableColumnDefinition{
	store.NameColumn,
	{Name: "Webhooks", Type: "integer", Description: "Webhooks indicates the number of webhooks registered in this configuration"},
	store.AgeColumn,
}

// DefaultWebhooks fills each webhook as upstream v1 does.
func DefaultWebhooks(hooks []*Webhook) {
	for _, w := range hooks {
		*w.FailurePolicy = DefaultFailurePolicy(*w.FailurePolicy)
		*w.MatchPolicy = DefaultMatchPolicy(*w.MatchPolicy)
		*w.NamespaceSelector = DefaultSelector(*w.NamespaceSelector)
		*w.ObjectSelector = DefaultSelector(*w.ObjectSelector)
		*w.TimeoutSeconds = DefaultTimeout(*w.TimeoutSeconds)
		DefaultRules(w.Rules)
		DefaultClientConfig(w.ClientConfig)
	}
}

// ValidateWebhooks checks every webhook of a configuration at webhooks[i]; names must be
// fully qualified and unique. extra, when set, checks what only one kind of webhook has;
// its errors follow that webhook's own.
func ValidateWebhooks(hooks []*Webhook, extra func(i int, fp *field.Path) field.ErrorList) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, w := range hooks {
		fp := field.NewPath("webhooks").Index(i)
		errs = append(errs, validateWebhook(w, names, fp)...)
		if extra != nil {
			errs = append(errs, extra(i, fp)...)
		}
	}
	return errs
}

// validateWebhook checks one webhook at fp; names tracks the names seen in the configuration.
func validateWebhook(w *Webhook, names sets.Set[string], fp *field.Path) field.ErrorList {
	np := fp.Child("name")
	errs := validation.IsFullyQualifiedName(np, w.Name)
	if names.Has(w.Name) {
		errs = append(errs, field.Duplicate(np, w.Name))
	}
	names.Insert(w.Name)
	for i := range w.Rules {
		errs = append(errs, ValidateRuleWithOperations(&w.Rules[i], fp.Child("rules").Index(i))...)
	}
	if *w.FailurePolicy != nil {
		errs = append(errs, ValidateFailurePolicy(*w.FailurePolicy, fp.Child("failurePolicy"))...)
	}
	errs = append(errs, ValidateMatchPolicy(*w.MatchPolicy, fp.Child("matchPolicy"))...)
	sp := fp.Child("sideEffects")
	if w.SideEffects == nil {
		errs = append(errs, field.Required(sp, fmt.Sprintf("must specify one of %v", strings.Join(sideEffectClasses, ", "))))
	} else if !sets.New(sideEffectClasses...).Has(string(*w.SideEffects)) {
		errs = append(errs, field.NotSupported(sp, *w.SideEffects, sideEffectClasses))
	}
	if t := *w.TimeoutSeconds; t != nil && (*t > 30 || *t < 1) {
		errs = append(errs, field.Invalid(fp.Child("timeoutSeconds"), *t, "the timeout value must be between 1 and 30 seconds"))
	}
	errs = append(errs, ValidateSelector(*w.NamespaceSelector, fp.Child("namespaceSelector"))...)
	errs = append(errs, ValidateSelector(*w.ObjectSelector, fp.Child("objectSelector"))...)
	errs = append(errs, validateReviewVersions(w.AdmissionReviewVersions, fp.Child("admissionReviewVersions"))...)
	errs = append(errs, ValidateClientConfig(w.ClientConfig, fp.Child("clientConfig"))...)
	var cel *Expressions
	if len(w.MatchConditions) > 0 {
		cel = NewExpressions(false, false)
	}
	errs = append(errs, ValidateMatchConditions(w.MatchConditions, cel, fp.Child("matchConditions"))...)
	return errs
}
