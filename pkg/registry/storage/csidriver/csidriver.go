// Package csidriver serves storage.k8s.io/v1 CSIDrivers: how the cluster talks to an
// installed CSI volume driver (attach, pod info, capacity, tokens).
package csidriver

import (
	"context"
	"math"
	"slices"
	"strings"

	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/storage/storageutil"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is csidrivers.
var Resource = &store.Resource{
	Name: "csidrivers", Singular: "csidriver",
	New:          func() runtime.Object { return &storagev1.CSIDriver{} },
	NewList:      func() runtime.Object { return &storagev1.CSIDriverList{} },
	ValidateName: storageutil.CSIDriverName,
	Defaults:     func(obj runtime.Object) { Default(obj.(*storagev1.CSIDriver)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*storagev1.CSIDriver))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		d, o := obj.(*storagev1.CSIDriver), old.(*storagev1.CSIDriver)
		errs := Validate(d)
		errs = append(errs, apivalidation.ValidateImmutableField(d.Spec.AttachRequired, o.Spec.AttachRequired, field.NewPath("spec", "attachRequired"))...)
		errs = append(errs, apivalidation.ValidateImmutableField(d.Spec.VolumeLifecycleModes, o.Spec.VolumeLifecycleModes, field.NewPath("spec", "volumeLifecycleModes"))...)
		return errs
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "AttachRequired", Type: "boolean", Description: storagev1.CSIDriverSpec{}.SwaggerDoc()["attachRequired"]},
		{Name: "PodInfoOnMount", Type: "boolean", Description: storagev1.CSIDriverSpec{}.SwaggerDoc()["podInfoOnMount"]},
		{Name: "StorageCapacity", Type: "boolean", Description: storagev1.CSIDriverSpec{}.SwaggerDoc()["storageCapacity"]},
		{Name: "TokenRequests", Type: "string", Description: storagev1.CSIDriverSpec{}.SwaggerDoc()["tokenRequests"]},
		{Name: "RequiresRepublish", Type: "boolean", Description: storagev1.CSIDriverSpec{}.SwaggerDoc()["requiresRepublish"]},
		{Name: "Modes", Type: "string", Description: storagev1.CSIDriverSpec{}.SwaggerDoc()["volumeLifecycleModes"]},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*storagev1.CSIDriver)) },
}

func boolPtr(b bool) *bool { return &b }

// Default fills the spec as upstream v1 does.
func Default(d *storagev1.CSIDriver) {
	s := &d.Spec
	if s.AttachRequired == nil {
		s.AttachRequired = boolPtr(true)
	}
	if s.PodInfoOnMount == nil {
		s.PodInfoOnMount = boolPtr(false)
	}
	if s.StorageCapacity == nil {
		s.StorageCapacity = boolPtr(false)
	}
	if s.FSGroupPolicy == nil {
		p := storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy
		s.FSGroupPolicy = &p
	}
	if len(s.VolumeLifecycleModes) == 0 {
		s.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}
	}
	if s.RequiresRepublish == nil {
		s.RequiresRepublish = boolPtr(false)
	}
	if s.SELinuxMount == nil {
		s.SELinuxMount = boolPtr(false)
	}
}

func pbool(b *bool) bool { return b != nil && *b }

// Row prints a driver as kubectl does.
func Row(d *storagev1.CSIDriver) []any {
	attach := d.Spec.AttachRequired == nil || *d.Spec.AttachRequired
	tokens := "<unset>"
	if d.Spec.TokenRequests != nil {
		var aud []string
		for _, t := range d.Spec.TokenRequests {
			aud = append(aud, t.Audience)
		}
		tokens = strings.Join(aud, ",")
	}
	var modes []string
	for _, m := range d.Spec.VolumeLifecycleModes {
		modes = append(modes, string(m))
	}
	return []any{d.Name, attach, pbool(d.Spec.PodInfoOnMount), pbool(d.Spec.StorageCapacity), tokens,
		pbool(d.Spec.RequiresRepublish), strings.Join(modes, ","), store.Age(d.CreationTimestamp)}
}

var (
	fsGroupPolicies = []string{string(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy), string(storagev1.FileFSGroupPolicy), string(storagev1.NoneFSGroupPolicy)}
	lifecycleModes  = []string{string(storagev1.VolumeLifecyclePersistent), string(storagev1.VolumeLifecycleEphemeral)}
)

// Validate checks a CSIDriver's spec.
func Validate(d *storagev1.CSIDriver) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	for name, v := range map[string]*bool{"attachRequired": d.Spec.AttachRequired, "podInfoOnMount": d.Spec.PodInfoOnMount, "storageCapacity": d.Spec.StorageCapacity, "requiresRepublish": d.Spec.RequiresRepublish} {
		if v == nil {
			errs = append(errs, field.Required(sp.Child(name), ""))
		}
	}
	if p := d.Spec.FSGroupPolicy; p != nil && !slices.Contains(fsGroupPolicies, string(*p)) {
		errs = append(errs, field.NotSupported(sp.Child("fsGroupPolicy"), *p, fsGroupPolicies))
	}
	for i, m := range d.Spec.VolumeLifecycleModes {
		if !slices.Contains(lifecycleModes, string(m)) {
			errs = append(errs, field.NotSupported(sp.Child("volumeLifecycleModes").Index(i), m, lifecycleModes))
		}
	}
	seen := map[string]bool{}
	for i, t := range d.Spec.TokenRequests {
		p := sp.Child("tokenRequests").Index(i)
		if seen[t.Audience] {
			errs = append(errs, field.Duplicate(p.Child("audience"), t.Audience))
		}
		seen[t.Audience] = true
		if t.ExpirationSeconds != nil {
			if *t.ExpirationSeconds < 600 {
				errs = append(errs, field.Invalid(p.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			} else if *t.ExpirationSeconds > math.MaxUint32 {
				errs = append(errs, field.TooLong(p.Child("expirationSeconds"), *t.ExpirationSeconds, math.MaxUint32))
			}
		}
	}
	return errs
}
