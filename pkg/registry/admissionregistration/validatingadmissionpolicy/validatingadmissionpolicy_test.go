package validatingadmissionpolicy

import (
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func policy(validations ...admissionregistrationv1.Validation) *admissionregistrationv1.ValidatingAdmissionPolicy {
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{"CREATE"},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}},
			}}},
			Validations: validations,
		},
	}
	Default(p)
	return p
}

func TestDefault(t *testing.T) {
	p := policy(admissionregistrationv1.Validation{Expression: "true"})
	m := p.Spec.MatchConstraints
	if *p.Spec.FailurePolicy != admissionregistrationv1.Fail || *m.MatchPolicy != admissionregistrationv1.Equivalent ||
		m.NamespaceSelector == nil || m.ObjectSelector == nil || *m.ResourceRules[0].Scope != admissionregistrationv1.AllScopes {
		t.Errorf("defaults: %+v", p.Spec)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		policy *admissionregistrationv1.ValidatingAdmissionPolicy
		field  string
		detail string
	}{
		{"valid", policy(admissionregistrationv1.Validation{Expression: "object.metadata.name.startsWith('a')", MessageExpression: "'bad ' + object.metadata.name"}), "", ""},
		{"no validations", policy(), "spec.validations", "validations or auditAnnotations must contain at least one item"},
		{"syntax", policy(admissionregistrationv1.Validation{Expression: "1 +"}), "spec.validations[0].expression", "compilation failed"},
		{"not bool", policy(admissionregistrationv1.Validation{Expression: "1 + 1"}), "spec.validations[0].expression", "must evaluate to bool"},
		{"params without paramKind", policy(admissionregistrationv1.Validation{Expression: "params.x == 1"}), "spec.validations[0].expression", "compilation failed"},
		{"line break", policy(admissionregistrationv1.Validation{Expression: "true", Message: "a\nb"}), "spec.validations[0].message", "message must not contain line breaks"},
	}
	for _, c := range cases {
		errs := Validate(c.policy)
		if c.field == "" {
			if len(errs) != 0 {
				t.Errorf("%s: unexpected %v", c.name, errs)
			}
			continue
		}
		if len(errs) != 1 || errs[0].Field != c.field || !strings.Contains(errs[0].Detail, c.detail) {
			t.Errorf("%s: got %v, want %s: %s", c.name, errs, c.field, c.detail)
		}
	}
	p := policy(admissionregistrationv1.Validation{Expression: "variables.ok"})
	p.Spec.Variables = []admissionregistrationv1.Variable{{Name: "ok", Expression: "object.metadata.name != ''"}}
	if errs := Validate(p); len(errs) != 0 {
		t.Errorf("variables not visible to validations: %v", errs)
	}
	p = policy(admissionregistrationv1.Validation{Expression: "params.x == 1"})
	p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
	if errs := Validate(p); len(errs) != 0 {
		t.Errorf("params refused with a paramKind: %v", errs)
	}
	p.Spec.MatchConstraints = nil
	if errs := Validate(p); len(errs) != 1 || errs[0].Field != "spec.matchConstraints" {
		t.Errorf("missing matchConstraints: %v", errs)
	}
	if row := Resource.Row(policy(admissionregistrationv1.Validation{Expression: "true"})); row[1] != int64(1) || row[2] != "<unset>" {
		t.Errorf("row %v", row)
	}
}
