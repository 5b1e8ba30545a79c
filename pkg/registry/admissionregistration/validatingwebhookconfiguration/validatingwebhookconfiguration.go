// Package validatingwebhookconfiguration serves admissionregistration.k8s.io/v1
// ValidatingWebhookConfigurations; the apiserver's webhook admission plugin calls the
// webhooks they list.
package validatingwebhookconfiguration

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

// Resource is validatingwebhookconfigurations.
var Resource = &store.Resource{
	Name: "validatingwebhookconfigurations", Singular: "validatingwebhookconfiguration",
	Categories: admissionutil.Category, Generation: true,
	New:      func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
	NewList:  func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfigurationList{} },
	Defaults: func(obj runtime.Object) { Default(obj.(*admissionregistrationv1.ValidatingWebhookConfiguration)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*admissionregistrationv1.ValidatingWebhookConfiguration))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Webhooks", Type: "integer", Description: "Webhooks indicates the number of webhooks registered in this configuration"},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		c := obj.(*admissionregistrationv1.ValidatingWebhookConfiguration)
		return []any{c.Name, int64(len(c.Webhooks)), store.Age(c.CreationTimestamp)}
	},
}

// Default fills each webhook as upstream v1 does.
func Default(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		w.FailurePolicy = admissionutil.DefaultFailurePolicy(w.FailurePolicy)
		w.MatchPolicy = admissionutil.DefaultMatchPolicy(w.MatchPolicy)
		w.NamespaceSelector = admissionutil.DefaultSelector(w.NamespaceSelector)
		w.ObjectSelector = admissionutil.DefaultSelector(w.ObjectSelector)
		w.TimeoutSeconds = admissionutil.DefaultTimeout(w.TimeoutSeconds)
		admissionutil.DefaultRules(w.Rules)
		admissionutil.DefaultClientConfig(&w.ClientConfig)
	}
}

// Validate checks every webhook; names must be fully qualified and unique.
func Validate(c *admissionregistrationv1.ValidatingWebhookConfiguration) field.ErrorList {
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
	}
	return errs
}
