package mutatingadmissionpolicy

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

func policy(m ...admissionregistrationv1.Mutation) *admissionregistrationv1.MutatingAdmissionPolicy {
	p := &admissionregistrationv1.MutatingAdmissionPolicy{Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
		MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
			RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{"CREATE"},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}},
		}}},
		ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		Mutations:          m,
	}}
	Default(p)
	return p
}

func TestValidate(t *testing.T) {
	apply := admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
		ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `Object{metadata: Object.metadata{labels: {"a": "b"}}}`}}
	patch := admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
		JSONPatch: &admissionregistrationv1.JSONPatch{Expression: `[JSONPatch{op: "add", path: "/metadata/labels/a", value: "b"}]`}}
	if errs := Validate(policy(apply, patch)); len(errs) != 0 {
		t.Fatalf("valid policy refused: %v", errs)
	}
	cases := []struct {
		name  string
		p     *admissionregistrationv1.MutatingAdmissionPolicy
		field string
	}{
		{"no mutations", policy(), "spec.mutations"},
		{"missing apply configuration", policy(admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeApplyConfiguration}), "spec.mutations[0].applyConfiguration"},
		{"bad patch type", policy(admissionregistrationv1.Mutation{PatchType: "Merge"}), "spec.mutations[0].patchType"},
		{"bad expression", policy(admissionregistrationv1.Mutation{PatchType: admissionregistrationv1.PatchTypeJSONPatch, JSONPatch: &admissionregistrationv1.JSONPatch{Expression: "[("}}), "spec.mutations[0].jsonPatch.expression"},
	}
	for _, c := range cases {
		errs := Validate(c.p)
		if len(errs) != 1 || errs[0].Field != c.field {
			t.Errorf("%s: got %v, want error on %s", c.name, errs, c.field)
		}
	}
	p := policy(apply)
	p.Spec.ReinvocationPolicy = ""
	if errs := Validate(p); len(errs) != 1 || errs[0].Field != "spec.reinvocationPolicy" {
		t.Errorf("reinvocationPolicy: %v", errs)
	}
}
