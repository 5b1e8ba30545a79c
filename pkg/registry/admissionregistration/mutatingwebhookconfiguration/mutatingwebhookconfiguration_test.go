package mutatingwebhookconfiguration

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

func TestDefaultAndValidate(t *testing.T) {
	none := admissionregistrationv1.SideEffectClassNone
	url := "https://hooks.example.com/mutate"
	c := &admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: []admissionregistrationv1.MutatingWebhook{{
		Name: "m.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
		SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
	}}}
	Default(c)
	if *c.Webhooks[0].ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy {
		t.Errorf("reinvocationPolicy %v", *c.Webhooks[0].ReinvocationPolicy)
	}
	if w := c.Webhooks[0]; *w.FailurePolicy != admissionregistrationv1.Fail || *w.MatchPolicy != admissionregistrationv1.Equivalent ||
		*w.TimeoutSeconds != 10 || w.NamespaceSelector == nil || w.ObjectSelector == nil {
		t.Errorf("defaults: %+v", w)
	}
	if errs := Validate(c); len(errs) != 0 {
		t.Errorf("valid configuration refused: %v", errs)
	}
	bad := admissionregistrationv1.ReinvocationPolicyType("Always")
	c.Webhooks[0].ReinvocationPolicy = &bad
	if errs := Validate(c); len(errs) != 1 || errs[0].Field != "webhooks[0].reinvocationPolicy" {
		t.Errorf("got %v", errs)
	}
	http := "http://hooks.example.com/mutate"
	c.Webhooks[0].ReinvocationPolicy = nil
	c.Webhooks[0].ClientConfig.URL = &http
	if errs := Validate(c); len(errs) != 1 || errs[0].Field != "webhooks[0].clientConfig.url" {
		t.Errorf("http url: %v", errs)
	}
}
