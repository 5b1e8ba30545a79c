package validatingwebhookconfiguration

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func hook(name string) admissionregistrationv1.ValidatingWebhook {
	none := admissionregistrationv1.SideEffectClassNone
	return admissionregistrationv1.ValidatingWebhook{
		Name:                    name,
		ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "default", Name: "svc"}},
		Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{"CREATE"}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
		SideEffects:             &none,
		AdmissionReviewVersions: []string{"v1"},
	}
}

func TestDefault(t *testing.T) {
	c := &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{hook("a.example.com")}}
	Default(c)
	w := c.Webhooks[0]
	if *w.FailurePolicy != admissionregistrationv1.Fail || *w.MatchPolicy != admissionregistrationv1.Equivalent || *w.TimeoutSeconds != 10 ||
		w.NamespaceSelector == nil || w.ObjectSelector == nil || *w.ClientConfig.Service.Port != 443 || *w.Rules[0].Scope != admissionregistrationv1.AllScopes {
		t.Errorf("defaults: %+v", w)
	}
	if errs := Validate(c); len(errs) != 0 {
		t.Errorf("valid configuration refused: %v", errs)
	}
	if row := Resource.Row(&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Webhooks: c.Webhooks}); row[1] != int64(1) {
		t.Errorf("row %v", row)
	}
}

func TestValidate(t *testing.T) {
	url := "https://example.com/hook"
	timeout := int32(31)
	cases := []struct {
		name   string
		mutate func(c *admissionregistrationv1.ValidatingWebhookConfiguration)
		field  string
	}{
		{"unqualified name", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) { c.Webhooks[0].Name = "hook" }, "webhooks[0].name"},
		{"duplicate name", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks = append(c.Webhooks, hook("a.example.com"))
		}, "webhooks[1].name"},
		{"url and service", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) { c.Webhooks[0].ClientConfig.URL = &url }, "webhooks[0].clientConfig"},
		{"no side effects", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) { c.Webhooks[0].SideEffects = nil }, "webhooks[0].sideEffects"},
		{"no review versions", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].AdmissionReviewVersions = nil
		}, "webhooks[0].admissionReviewVersions"},
		{"timeout", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].TimeoutSeconds = &timeout
		}, "webhooks[0].timeoutSeconds"},
		{"star and more", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].Rules[0].Operations = []admissionregistrationv1.OperationType{"*", "CREATE"}
		}, "webhooks[0].rules[0].operations"},
		{"no resources", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].Rules[0].Resources = nil
		}, "webhooks[0].rules[0].resources"},
		{"bad match condition", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "c"}}
		}, "webhooks[0].matchConditions[0].expression"},
		{"match condition not bool", func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			c.Webhooks[0].MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "c", Expression: "'x'"}}
		}, "webhooks[0].matchConditions[0].expression"},
	}
	for _, c := range cases {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{hook("a.example.com")}}
		Default(cfg)
		c.mutate(cfg)
		errs := Validate(cfg)
		found := false
		for _, e := range errs {
			found = found || e.Field == c.field
		}
		if !found {
			t.Errorf("%s: no error on %s: %v", c.name, c.field, errs)
		}
	}
}
