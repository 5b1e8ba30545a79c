package ipaddress

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

func TestValidateName(t *testing.T) {
	for name, wantOK := range map[string]bool{
		"10.43.0.1": true, "2001:db8::1": true, "10.043.0.1": false, "2001:DB8::1": false, "foo": false, "0.0.0.0": false, "127.0.0.1": false,
	} {
		if got := len(ValidateName(name, false)) == 0; got != wantOK {
			t.Errorf("ValidateName(%q) ok=%v, want %v (%v)", name, got, wantOK, ValidateName(name, false))
		}
	}
}

func TestValidateAndRow(t *testing.T) {
	if errs := Validate(&networkingv1.IPAddress{}); !strings.Contains(errs.ToAggregate().Error(), "spec.parentRef: Required value") {
		t.Fatal(errs)
	}
	ref := &networkingv1.ParentReference{Resource: "services", Namespace: "default"}
	if errs := Validate(&networkingv1.IPAddress{Spec: networkingv1.IPAddressSpec{ParentRef: ref}}); !strings.Contains(errs.ToAggregate().Error(), "spec.parentRef.name: Required value") {
		t.Fatal(errs)
	}
	ref.Name = "kubernetes"
	if got := ParentRefString(ref); got != "services/default/kubernetes" {
		t.Errorf("ParentRefString = %q", got)
	}
	if got := ParentRefString(&networkingv1.ParentReference{Group: "gateway.networking.k8s.io", Resource: "gateways", Name: "g"}); got != "gateways.gateway.networking.k8s.io/g" {
		t.Errorf("ParentRefString = %q", got)
	}
	if got := ParentRefString(nil); got != "<none>" {
		t.Errorf("ParentRefString(nil) = %q", got)
	}
}
