// Package servicecidr serves networking.k8s.io/v1 ServiceCIDRs. The Service registry
// keeps the "kubernetes" one, which records the --service-cidr ClusterIPs come from.
package servicecidr

import (
	"context"
	"net/netip"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is servicecidrs.
var Resource = &store.Resource{
	Name: "servicecidrs", Singular: "servicecidr",
	New:     func() runtime.Object { return &networkingv1.ServiceCIDR{} },
	NewList: func() runtime.Object { return &networkingv1.ServiceCIDRList{} },
	Status:  true,
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*networkingv1.ServiceCIDR))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		c, oldC := obj.(*networkingv1.ServiceCIDR), old.(*networkingv1.ServiceCIDR)
		errs := Validate(c)
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(c.Spec.CIDRs, oldC.Spec.CIDRs, field.NewPath("spec", "cidrs"))...)
		return errs
	},
	// Status is not validated beyond metadata, as upstream: its controller writes a
	// Ready condition without a reason.
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "CIDRs", Type: "string", Description: networkingv1.ServiceCIDRSpec{}.SwaggerDoc()["cidrs"]},
		store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		c := obj.(*networkingv1.ServiceCIDR)
		return []any{c.Name, strings.Join(c.Spec.CIDRs, ","), store.Age(c.CreationTimestamp)}
	},
}

// Validate checks spec.cidrs: one or two canonical CIDRs, at most one per IP family.
func Validate(c *networkingv1.ServiceCIDR) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "cidrs")
	switch n := len(c.Spec.CIDRs); {
	case n == 0:
		return append(errs, field.Required(p, "at least one CIDR required"))
	case n > 2:
		return append(errs, field.TooMany(p, n, 2))
	}
	families := map[bool]bool{}
	for i, s := range c.Spec.CIDRs {
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, field.Invalid(p.Index(i), s, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
			continue
		}
		if prefix.Masked().String() != s {
			errs = append(errs, field.Invalid(p.Index(i), s, "must be in canonical form (\""+prefix.Masked().String()+"\")"))
		}
		v4 := prefix.Addr().Is4()
		if families[v4] {
			errs = append(errs, field.Invalid(p, c.Spec.CIDRs, "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64"))
		}
		families[v4] = true
	}
	return errs
}
