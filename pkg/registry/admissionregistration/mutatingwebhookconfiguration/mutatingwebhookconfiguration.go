// Package mutatingwebhookconfiguration serves admissionregistration.k8s.io/v1
// MutatingWebhookConfigurations; the apiserver's webhook admission plugin calls the
// webhooks they list, which may change the objects admitted.
package mutatingwebhookconfiguration

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/admissionutil"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is mutatingwebhookconfigurations.
var Resource = &store.Resource{
	Name: "mutatingwebhookconfigurations", Singular: "mutatingwebhookconfiguration",
	Categories: admissionutil.Category, Generation: true,
	New:      func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
	NewList:  func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfigurationList{} },
	Defaults: func(obj runtime.Object) { Default(obj.(*admissionregistrationv1.MutatingWebhookConfiguration)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*admissionregistrationv1.MutatingWebhookConfiguration))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Webhooks", Type: "integer", Description: "Webhooks indicates the number of webhooks registered in this configuration"},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		c := obj.(*admissionregistrationv1.MutatingWebhookConfiguration)
		return []any{c.Name, int64(len(c.Webhooks)), store.Age(c.CreationTimestamp)}
	},
}

// Default fills each webhook as upstream v1 does.
func Default(c *admissionregistrationv1.MutatingWebhookConfiguration) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		w.FailurePolicy = admissionutil.DefaultFailurePolicy(w.FailurePolicy)
		w.MatchPolicy = admissionutil.DefaultMatchPolicy(w.MatchPolicy)
		w.NamespaceSelector = admissionutil.DefaultSelector(w.NamespaceSelector)
		w.ObjectSelector = admissionutil.DefaultSelector(w.ObjectSelector)
		w.TimeoutSeconds = admissionutil.DefaultTimeout(w.TimeoutSeconds)
		admissionutil.DefaultRules(w.Rules)
		admissionutil.DefaultClientConfig(&w.ClientConfig)
		if w.ReinvocationPolicy == nil {
			never := admissionregistrationv1.NeverReinvocationPolicy
			w.ReinvocationPolicy = &never
		}
	}
}

// Validate checks every webhook; names must be fully qualified and unique.
func Validate(c *admissionregistrationv1.MutatingWebhookConfiguration) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		errs = append(errs, admissionutil.ValidateWebhook(&admissionutil.WebhookCommon{
			Name: w.Name, ClientConfig: &w.ClientConfig, Rules: w.Rules, FailurePolicy: w.FailurePolicy,
			MatchPolicy: w.MatchPolicy, NamespaceSelector: w.NamespaceSelector, ObjectSelector: w.ObjectSelector,
			SideEffects: w.SideEffects, TimeoutSeconds: w.TimeoutSeconds, AdmissionReviewVersions: w.AdmissionReviewVersions,
			MatchConditions: w.MatchConditions,
		}, names, field.NewPath("webhooks").Index(i))...)
		if w.ReinvocationPolicy != nil {
			errs = append(errs, admissionutil.ValidateReinvocationPolicy(*w.ReinvocationPolicy, field.NewPath("webhooks").Index(i).Child("reinvocationPolicy"))...)
		}
	}
	return errs
}
