package endpoints

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestFormat(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	for _, tc := range []struct {
		ep   corev1.Endpoints
		want string
	}{
		{corev1.Endpoints{}, "<none>"},
		{corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: []corev1.EndpointPort{{Port: 80}}}}}, "10.0.0.1:80,10.0.0.2:80"},
		{corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"), Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}}},
			"10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 5 more..."},
		{corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: addrs("fd00::1"), Ports: []corev1.EndpointPort{{Port: 53}}}}}, "[fd00::1]:53"},
	} {
		if got := Format(&tc.ep); got != tc.want {
			t.Errorf("Format = %q, want %q", got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		ss   corev1.EndpointSubset
		want string
	}{
		{corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}}}, ""},
		{corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}}}, "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"},
		{corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "nope"}}}, `subsets[0].addresses[0].ip: Invalid value: "nope"`},
		{corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}, {Port: 81, Protocol: "TCP"}}},
			"subsets[0].ports[0].name: Required value"},
		{corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}}, Ports: []corev1.EndpointPort{{Port: 0, Protocol: "ICMP"}}},
			`subsets[0].ports[0].protocol: Unsupported value: "ICMP"`},
	} {
		errs := Validate(&corev1.Endpoints{Subsets: []corev1.EndpointSubset{tc.ss}})
		if tc.want == "" && len(errs) > 0 {
			t.Errorf("unexpected %v", errs)
		}
		if tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)) {
			t.Errorf("errors %v, want %q", errs, tc.want)
		}
	}
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}
	Resource.Defaults(ep)
	if ep.Subsets[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Fatal("protocol not defaulted to TCP")
	}
}

func TestValidatePort(t *testing.T) {
	names := map[string]bool{}
	p := field.NewPath("ports")
	if errs := ValidatePort("http", 80, corev1.ProtocolTCP, true, names, p.Index(0)); len(errs) != 0 {
		t.Errorf("valid port: %v", errs)
	}
	var got []string
	for _, e := range ValidatePort("http", 0, "", true, names, p.Index(1)) {
		got = append(got, e.Error())
	}
	for _, e := range ValidatePort("Web_1", 80, "ICMP", false, names, p.Index(2)) {
		got = append(got, e.Error())
	}
	want := []string{
		`ports[1].name: Duplicate value: "http"`,
		"ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
		"ports[1].protocol: Required value",
		`ports[2].name: Invalid value: "Web_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		`ports[2].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
