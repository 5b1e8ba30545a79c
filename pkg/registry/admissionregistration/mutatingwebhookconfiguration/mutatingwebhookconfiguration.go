// Package mutatingwebhookconfiguration serves admissionregistration.k8s.io/v1
// MutatingWebhookConfigurations; the apiserver's webhook admission plugin calls the
// webhooks they list, which may change the objects admitted.
package mutatingwebhookconfiguration

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
	Columns: admissionutil.WebhookColumns,
	Row: func(obj runtime.Object) []any {
		c := obj.(*admissionregistrationv1.MutatingWebhookConfiguration)
		return []any{c.Name, int64(len(c.Webhooks)), store.Age(c.CreationTimestamp)}
	},
}

// webhooks is the shared view of each of c's webhooks.
func webhooks(c *admissionregistrationv1.MutatingWebhookConfiguration) []*admissionutil.Webhook {
	hooks := make([]*admissionutil.Webhook, len(c.Webhooks))
	for i := range c.Webhooks {
		hooks[i] = admissionutil.MutatingWebhook(&c.Webhooks[i])
	}
	return hooks
}

// Default fills each webhook as upstream v1 does.
func Default(c *admissionregistrationv1.MutatingWebhookConfiguration) {
	admissionutil.DefaultWebhooks(webhooks(c))
	for i := range c.Webhooks {
		if c.Webhooks[i].ReinvocationPolicy == nil {
			never := admissionregistrationv1.NeverReinvocationPolicy
			c.Webhooks[i].ReinvocationPolicy = &never
		}
	}
}

// Validate checks every webhook; names must be fully qualified and unique.
func Validate(c *admissionregistrationv1.MutatingWebhookConfiguration) field.ErrorList {
	return admissionutil.ValidateWebhooks(webhooks(c), func(i int, fp *field.Path) field.ErrorList {
		if p := c.Webhooks[i].ReinvocationPolicy; p != nil {
			return admissionutil.ValidateReinvocationPolicy(*p, fp.Child("reinvocationPolicy"))
		}
		return nil
	})
}
