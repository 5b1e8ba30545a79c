package endpointslice

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func port(name string, n int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: &name, Port: &n}
}

func TestDefaultsAndValidate(t *testing.T) {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}}},
		Ports:     []discoveryv1.EndpointPort{{Port: new(int32)}}}
	Default(s)
	if *s.Ports[0].Name != "" || *s.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("port defaults: %+v", s.Ports[0])
	}
	if errs := Resource.Validate(context.Background(), s); len(errs) != 0 {
		t.Errorf("valid: %v", errs)
	}
	bad := s.DeepCopy()
	bad.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1", "::1", "0.0.0.0"}}, {}}
	bad.Ports = append(bad.Ports, bad.Ports[0])
	want := []string{"FieldValueInvalid endpoints[0].addresses[0]", "FieldValueInvalid endpoints[0].addresses[1]",
		"FieldValueInvalid endpoints[0].addresses[2]", "FieldValueRequired endpoints[1].addresses", "FieldValueDuplicate ports[1].name"}
	if got := errorKeys(Resource.Validate(context.Background(), bad)); !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
	fqdn := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeFQDN, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"db.example.com", "Not_A_Name"}}}}
	if got := errorKeys(Resource.Validate(context.Background(), fqdn)); !slices.Equal(got, []string{"FieldValueInvalid endpoints[0].addresses[1]"}) {
		t.Errorf("fqdn: %v", got)
	}
	if got := errorKeys(Resource.Validate(context.Background(), &discoveryv1.EndpointSlice{AddressType: "IP"})); !slices.Equal(got, []string{"FieldValueNotSupported addressType"}) {
		t.Errorf("address type: %v", got)
	}
	v6 := s.DeepCopy()
	v6.AddressType = discoveryv1.AddressTypeIPv6
	v6.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"fd00::5"}}}
	if got := errorKeys(Resource.ValidateUpdate(context.Background(), v6, s)); !slices.Equal(got, []string{"FieldValueInvalid addressType"}) {
		t.Errorf("address type change: %v", got)
	}
}

func TestRow(t *testing.T) {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-x"}, AddressType: discoveryv1.AddressTypeIPv4,
		Ports:     []discoveryv1.EndpointPort{port("a", 80), port("b", 443), port("c", 8080), port("d", 9090)},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1", "10.0.0.2"}}, {Addresses: []string{"10.0.0.3"}}}}
	row := Resource.Row(s)
	if row[1] != "IPv4" || row[2] != "80,443,8080 + 1 more..." || row[3] != "10.0.0.1,10.0.0.2,10.0.0.3" {
		t.Errorf("row = %v", row)
	}
	if row := Resource.Row(&discoveryv1.EndpointSlice{}); row[2] != "<unset>" || row[3] != "<unset>" {
		t.Errorf("empty row = %v", row)
	}
}
