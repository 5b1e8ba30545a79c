// Package ipaddress serves networking.k8s.io/v1 IPAddresses: one object per allocated
// IP, named after the IP in canonical form, pointing at its owner through parentRef.
// The Service registry creates and deletes the ones it allocates (package
// pkg/registry/core/service/ipallocator); users may create others to reserve an IP.
package ipaddress

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is ipaddresses.
var Resource = &store.Resource{
	Name: "ipaddresses", Singular: "ipaddress", ShortNames: []string{"ip"},
	New:          func() runtime.Object { return &networkingv1.IPAddress{} },
	NewList:      func() runtime.Object { return &networkingv1.IPAddressList{} },
	ValidateName: ValidateName,
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*networkingv1.IPAddress))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		ip, oldIP := obj.(*networkingv1.IPAddress), old.(*networkingv1.IPAddress)
		errs := Validate(ip)
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(ip.Spec.ParentRef, oldIP.Spec.ParentRef, field.NewPath("spec", "parentRef"))...)
		return errs
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "ParentRef", Type: "string", Description: networkingv1.IPAddressSpec{}.SwaggerDoc()["parentRef"]},
		store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		ip := obj.(*networkingv1.IPAddress)
		return []any{ip.Name, ParentRefString(ip.Spec.ParentRef), store.Age(ip.CreationTimestamp)}
	},
}

// ValidateName accepts only an IP address in canonical form.
func ValidateName(name string, prefix bool) []string {
	if prefix {
		return []string{"generateName is not supported"}
	}
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return []string{"must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"}
	}
	if ip.String() != name {
		return []string{fmt.Sprintf("must be in canonical form (%q)", ip.String())}
	}
	if ip.IsUnspecified() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
		return []string{"may not be unspecified, loopback, link-local or multicast"}
	}
	return nil
}

// Validate checks that parentRef names a resource and an object.
func Validate(ip *networkingv1.IPAddress) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "parentRef")
	ref := ip.Spec.ParentRef
	if ref == nil {
		return append(errs, field.Required(p, ""))
	}
	if ref.Group != "" {
		for _, msg := range validation.IsDNS1123Subdomain(ref.Group) {
			errs = append(errs, field.Invalid(p.Child("group"), ref.Group, msg))
		}
	}
	if ref.Resource == "" {
		errs = append(errs, field.Required(p.Child("resource"), ""))
	} else {
		for _, msg := range path.IsValidPathSegmentName(ref.Resource) {
			errs = append(errs, field.Invalid(p.Child("resource"), ref.Resource, msg))
		}
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range path.IsValidPathSegmentName(ref.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), ref.Name, msg))
		}
	}
	if ref.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(ref.Namespace) {
			errs = append(errs, field.Invalid(p.Child("namespace"), ref.Namespace, msg))
		}
	}
	return errs
}

// ParentRefString prints a parentRef as upstream's table does: resource.group/ns/name.
func ParentRefString(ref *networkingv1.ParentReference) string {
	if ref == nil {
		return "<none>"
	}
	s := strings.ToLower(schema.GroupResource{Group: ref.Group, Resource: ref.Resource}.String())
	if ref.Namespace != "" {
		s += "/" + ref.Namespace
	}
	return s + "/" + ref.Name
}
