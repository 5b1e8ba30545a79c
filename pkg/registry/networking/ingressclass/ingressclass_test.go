package ingressclass

import (
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	ns := "ns"
	g := "k8s.example.com"
	cases := []struct {
		name  string
		spec  networkingv1.IngressClassSpec
		field string
	}{
		{"valid", networkingv1.IngressClassSpec{Controller: "example.com/ingress"}, ""},
		{"not domain prefixed", networkingv1.IngressClassSpec{Controller: "ingress"}, "spec.controller"},
		{"namespace with cluster scope", networkingv1.IngressClassSpec{Controller: "example.com/i", Parameters: &networkingv1.IngressClassParametersReference{APIGroup: &g, Kind: "K", Name: "n", Namespace: &ns}}, "spec.parameters.namespace"},
		{"no kind", networkingv1.IngressClassSpec{Controller: "example.com/i", Parameters: &networkingv1.IngressClassParametersReference{Name: "n"}}, "spec.parameters.kind"},
	}
	for _, c := range cases {
		ic := &networkingv1.IngressClass{Spec: c.spec}
		Default(ic)
		errs := Validate(ic)
		if c.field == "" && len(errs) != 0 || c.field != "" && (len(errs) != 1 || errs[0].Field != c.field) {
			t.Errorf("%s: got %v, want error on %q", c.name, errs, c.field)
		}
	}
}

func TestRowAndDefaultClass(t *testing.T) {
	g := "k8s.example.com"
	ic := networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx",
		Parameters: &networkingv1.IngressClassParametersReference{APIGroup: &g, Kind: "IngressParameters", Name: "lb"}}}
	if got := Row(&ic)[2]; got != "IngressParameters.k8s.example.com/lb" {
		t.Errorf("parameters %v", got)
	}
	now := time.Now()
	def := map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}
	classes := []networkingv1.IngressClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "old", Annotations: def, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))}},
		{ObjectMeta: metav1.ObjectMeta{Name: "new", Annotations: def, CreationTimestamp: metav1.NewTime(now)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain", CreationTimestamp: metav1.NewTime(now.Add(time.Hour))}},
	}
	if got := DefaultClass(classes); got != "new" {
		t.Errorf("default class %q, want the newest default", got)
	}
	if got := DefaultClass(classes[2:]); got != "" {
		t.Errorf("default class %q without any default", got)
	}
}
