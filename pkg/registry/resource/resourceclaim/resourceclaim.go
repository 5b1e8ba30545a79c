// Package resourceclaim serves resource.k8s.io/v1 ResourceClaims: requests for devices
// managed by DRA drivers, and (in status) their allocation.
package resourceclaim

import (
	"context"
	"strings"

	resourcev1 "k8s.io/api/resource/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// maxReservedFor bounds status.reservedFor, as upstream.
const maxReservedFor = 256

// Resource is resourceclaims.
var Resource = &store.Resource{
	Name: "resourceclaims", Singular: "resourceclaim", Namespaced: true,
	Generation: true, Status: true,
	New:      func() runtime.Object { return &resourcev1.ResourceClaim{} },
	NewList:  func() runtime.Object { return &resourcev1.ResourceClaimList{} },
	Defaults: func(obj runtime.Object) { DefaultSpec(&obj.(*resourcev1.ResourceClaim).Spec) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return ValidateSpec(&obj.(*resourcev1.ResourceClaim).Spec, field.NewPath("spec"))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		c, o := obj.(*resourcev1.ResourceClaim), old.(*resourcev1.ResourceClaim)
		errs := ValidateSpec(&c.Spec, field.NewPath("spec"))
		return append(errs, apivalidation.ValidateImmutableField(c.Spec, o.Spec, field.NewPath("spec"))...)
	},
	ValidateStatus: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateStatus(obj.(*resourcev1.ResourceClaim), old.(*resourcev1.ResourceClaim))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "State", Type: "string", Description: "A summary of the current state (allocated, pending, reserved, etc.)."},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		c := obj.(*resourcev1.ResourceClaim)
		return []any{c.Name, State(c), store.Age(c.CreationTimestamp)}
	},
}

// State summarizes a claim as kubectl prints it: pending, allocated, reserved, deleted.
func State(c *resourcev1.ResourceClaim) string {
	var states []string
	if c.DeletionTimestamp != nil {
		states = append(states, "deleted")
	}
	if c.Status.Allocation == nil {
		if c.DeletionTimestamp == nil {
			states = append(states, "pending")
		}
	} else {
		states = append(states, "allocated")
		if len(c.Status.ReservedFor) > 0 {
			states = append(states, "reserved")
		} else if c.DeletionTimestamp != nil {
			states = append(states, "deallocating")
		}
	}
	return strings.Join(states, ",")
}

// ValidateStatus checks the consumers a claim is reserved for, and that an allocation is
// not replaced by another while it exists.
func ValidateStatus(c, old *resourcev1.ResourceClaim) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("status")
	rp := sp.Child("reservedFor")
	if len(c.Status.ReservedFor) > maxReservedFor {
		errs = append(errs, field.TooMany(rp, len(c.Status.ReservedFor), maxReservedFor))
	}
	uids := sets.New[string]()
	for i, r := range c.Status.ReservedFor {
		p := rp.Index(i)
		if r.Resource == "" {
			errs = append(errs, field.Required(p.Child("resource"), ""))
		}
		if r.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if r.UID == "" {
			errs = append(errs, field.Required(p.Child("uid"), ""))
		} else if uids.Has(string(r.UID)) {
			errs = append(errs, field.Duplicate(p, r))
		}
		uids.Insert(string(r.UID))
	}
	if len(c.Status.ReservedFor) > 0 && c.Status.Allocation == nil {
		errs = append(errs, field.Forbidden(rp, "may not be specified when `allocated` is not set"))
	}
	if old.Status.Allocation != nil && c.Status.Allocation != nil {
		errs = append(errs, apivalidation.ValidateImmutableField(c.Status.Allocation, old.Status.Allocation, sp.Child("allocation"))...)
	}
	return errs
}
