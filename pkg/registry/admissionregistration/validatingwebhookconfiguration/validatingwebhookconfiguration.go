// Package validatingwebhookconfiguration serves admissionregistration.k8s.io/v1
// ValidatingWebhookConfigurations; the apiserver's webhook admission plugin calls the
// webhooks they list.
package validatingwebhookconfiguration

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
	Columns: admissionutil.WebhookColumns,
	Row: func(obj runtime.Object) []any {
		c := obj.(*admissionregistrationv1.ValidatingWebhookConfiguration)
		return []any{c.Name, int64(len(c.Webhooks)), store.Age(c.CreationTimestamp)}
	},
}

// webhooks is the shared view of each of c's webhooks.
func webhooks(c *admissionregistrationv1.ValidatingWebhookConfiguration) []*admissionutil.Webhook {
	hooks := make([]*admissionutil.Webhook, len(c.Webhooks))
	for i := range c.Webhooks {
		hooks[i] = admissionutil.ValidatingWebhook(&c.Webhooks[i])
	}
	return hooks
}

// Default fills each webhook as upstream v1 does.
func Default(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
	admissionutil.DefaultWebhooks(webhooks(c))
}

// Validate checks every webhook; names must be fully qualified and unique.
func Validate(c *admissionregistrationv1.ValidatingWebhookConfiguration) field.ErrorList {
	return admissionutil.ValidateWebhooks(webhooks(c), nil)
}
