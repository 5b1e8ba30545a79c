package servicecidr

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cidrs []string
		want  string
	}{
		{[]string{"10.43.0.0/16"}, ""},
		{[]string{"10.43.0.0/16", "fd00::/108"}, ""},
		{nil, "spec.cidrs: Required value"},
		{[]string{"10.43.0.1/16"}, "must be in canonical form"},
		{[]string{"nope"}, "must be a valid CIDR value"},
		{[]string{"10.43.0.0/16", "10.44.0.0/16"}, "may specify no more than one IP for each IP family"},
	} {
		errs := Validate(&networkingv1.ServiceCIDR{Spec: networkingv1.ServiceCIDRSpec{CIDRs: tc.cidrs}})
		if tc.want == "" && len(errs) > 0 {
			t.Errorf("%v: %v", tc.cidrs, errs)
		}
		if tc.want != "" && !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%v: errors %v, want %q", tc.cidrs, errs, tc.want)
		}
	}
	c := &networkingv1.ServiceCIDR{Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.43.0.0/16", "fd00::/108"}}}
	if row := Resource.Row(c); row[1] != "10.43.0.0/16,fd00::/108" {
		t.Errorf("row %v", row)
	}
}
