package validatingadmissionpolicybinding

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	deny := admissionregistrationv1.DenyAction
	cases := []struct {
		name  string
		spec  admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec
		field string
	}{
		{"valid", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Deny", "Audit"}}, ""},
		{"no policy", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{ValidationActions: []admissionregistrationv1.ValidationAction{"Deny"}}, "spec.policyName"},
		{"no actions", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p"}, "spec.validationActions"},
		{"deny and warn", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Deny", "Warn"}}, "spec.validationActions"},
		{"paramRef without name or selector", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Deny"},
			ParamRef: &admissionregistrationv1.ParamRef{ParameterNotFoundAction: &deny}}, "spec.paramRef"},
		{"paramRef without action", admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p", ValidationActions: []admissionregistrationv1.ValidationAction{"Deny"},
			ParamRef: &admissionregistrationv1.ParamRef{Name: "x"}}, "spec.paramRef.parameterNotFoundAction"},
	}
	for _, c := range cases {
		errs := Validate(&admissionregistrationv1.ValidatingAdmissionPolicyBinding{Spec: c.spec})
		if c.field == "" && len(errs) != 0 || c.field != "" && (len(errs) != 1 || errs[0].Field != c.field) {
			t.Errorf("%s: got %v, want error on %q", c.name, errs, c.field)
		}
	}
}

func TestRow(t *testing.T) {
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "p"}}
	for _, c := range []struct {
		ref  *admissionregistrationv1.ParamRef
		want string
	}{
		{nil, "<unset>"},
		{&admissionregistrationv1.ParamRef{Name: "x", Namespace: "ns"}, "ns/x"},
		{&admissionregistrationv1.ParamRef{Name: "x"}, "*/x"},
		{&admissionregistrationv1.ParamRef{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}, "a=b"},
	} {
		b.Spec.ParamRef = c.ref
		if got := Resource.Row(b)[2]; got != c.want {
			t.Errorf("paramRef %v printed %v, want %v", c.ref, got, c.want)
		}
	}
}
