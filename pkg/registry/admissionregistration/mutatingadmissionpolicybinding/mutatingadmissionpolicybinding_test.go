package mutatingadmissionpolicybinding

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateAndRow(t *testing.T) {
	allow := admissionregistrationv1.AllowAction
	b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "p",
			ParamRef: &admissionregistrationv1.ParamRef{Name: "x", Namespace: "ns", ParameterNotFoundAction: &allow}}}
	if errs := Validate(b); len(errs) != 0 {
		t.Errorf("valid binding refused: %v", errs)
	}
	if row := Resource.Row(b); row[1] != "p" || row[2] != "ns/x" {
		t.Errorf("row %v", row)
	}
	b.Spec.PolicyName = ""
	b.Spec.ParamRef.Selector = &metav1.LabelSelector{}
	errs := Validate(b)
	if len(errs) != 2 || errs[0].Field != "spec.policyName" || errs[1].Field != "spec.paramRef.name" {
		t.Errorf("got %v", errs)
	}
}
