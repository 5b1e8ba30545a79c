package admissionutil

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// BindingColumns are the printed columns of both kinds of policy binding.
var BindingColumns = []metav1.TableColumnDefinition{
	store.NameColumn,
	{Name: "PolicyName", Type: "string", Description: "PolicyName indicates the policy definition which the policy binding binded to"},
	{Name: "ParamRef", Type: "string", Description: "ParamRef indicates the param resource which sets the configration param"},
	store.AgeColumn,
}

// ParamRef prints a binding's paramRef: namespace/name ("*/" for any namespace), the
// selector, or "<unset>".
func ParamRef(pr *admissionregistrationv1.ParamRef) string {
	if pr == nil {
		return "<unset>"
	}
	if pr.Name != "" {
		if pr.Namespace != "" {
			return pr.Namespace + "/" + pr.Name
		}
		return "*/" + pr.Name
	}
	if pr.Selector != nil {
		return metav1.FormatLabelSelector(pr.Selector)
	}
	return "<unset>"
}
