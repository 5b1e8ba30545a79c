// Package resourceslice serves resource.k8s.io/v1 ResourceSlices: the devices a DRA driver
// publishes for a pool, selectable by node and driver.
package resourceslice

import (
	"context"

	resourcev1 "k8s.io/api/resource/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/resource/resourceclaim"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is resourceslices.
var Resource = &store.Resource{
	Name: "resourceslices", Singular: "resourceslice", Generation: true,
	New:     func() runtime.Object { return &resourcev1.ResourceSlice{} },
	NewList: func() runtime.Object { return &resourcev1.ResourceSliceList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*resourcev1.ResourceSlice))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		s, o := obj.(*resourcev1.ResourceSlice), old.(*resourcev1.ResourceSlice)
		errs := Validate(s)
		errs = append(errs, apivalidation.ValidateImmutableField(s.Spec.NodeName, o.Spec.NodeName, field.NewPath("spec", "nodeName"))...)
		errs = append(errs, apivalidation.ValidateImmutableField(s.Spec.Driver, o.Spec.Driver, field.NewPath("spec", "driver"))...)
		return errs
	},
	FieldLabels: []string{resourcev1.ResourceSliceSelectorNodeName, resourcev1.ResourceSliceSelectorDriver, resourcev1.ResourceSliceSelectorPoolName},
	Fields: func(obj runtime.Object) fields.Set {
		s := obj.(*resourcev1.ResourceSlice)
		return fields.Set{
			resourcev1.ResourceSliceSelectorNodeName: nodeName(s),
			resourcev1.ResourceSliceSelectorDriver:   s.Spec.Driver,
			resourcev1.ResourceSliceSelectorPoolName: s.Spec.Pool.Name,
		}
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Node", Type: "string", Description: resourcev1.ResourceSliceSpec{}.SwaggerDoc()["nodeName"]},
		{Name: "Driver", Type: "string", Description: resourcev1.ResourceSliceSpec{}.SwaggerDoc()["driver"]},
		{Name: "Pool", Type: "string", Description: resourcev1.ResourcePool{}.SwaggerDoc()["name"]},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		s := obj.(*resourcev1.ResourceSlice)
		return []any{s.Name, nodeName(s), s.Spec.Driver, s.Spec.Pool.Name, store.Age(s.CreationTimestamp)}
	},
}

func nodeName(s *resourcev1.ResourceSlice) string {
	if s.Spec.NodeName == nil {
		return ""
	}
	return *s.Spec.NodeName
}

const nodeChoiceMsg = "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"

// Validate checks the driver, the pool, the node choice and the devices.
func Validate(s *resourcev1.ResourceSlice) field.ErrorList {
	sp := field.NewPath("spec")
	errs := resourceclaim.ValidateDriverName(s.Spec.Driver, sp.Child("driver"))
	pp := sp.Child("pool")
	if s.Spec.Pool.Name == "" {
		errs = append(errs, field.Required(pp.Child("name"), ""))
	}
	if s.Spec.Pool.Generation < 0 {
		errs = append(errs, field.Invalid(pp.Child("generation"), s.Spec.Pool.Generation, "must be greater than or equal to zero"))
	}
	if s.Spec.Pool.ResourceSliceCount <= 0 {
		errs = append(errs, field.Invalid(pp.Child("resourceSliceCount"), s.Spec.Pool.ResourceSliceCount, "must be greater than zero"))
	}
	n := 0
	if s.Spec.NodeName != nil {
		n++
		for _, msg := range validation.IsDNS1123Subdomain(*s.Spec.NodeName) {
			errs = append(errs, field.Invalid(sp.Child("nodeName"), *s.Spec.NodeName, msg))
		}
	}
	if s.Spec.NodeSelector != nil {
		n++
		if len(s.Spec.NodeSelector.NodeSelectorTerms) != 1 {
			errs = append(errs, field.Invalid(sp.Child("nodeSelector", "nodeSelectorTerms"), s.Spec.NodeSelector.NodeSelectorTerms, "must have exactly one node selector term"))
		}
	}
	if s.Spec.AllNodes != nil && *s.Spec.AllNodes {
		n++
	}
	if s.Spec.PerDeviceNodeSelection != nil && *s.Spec.PerDeviceNodeSelection {
		n++
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(sp, nodeChoiceMsg))
	case n > 1:
		errs = append(errs, field.Invalid(sp, "{`nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection`}", nodeChoiceMsg))
	}
	dp := sp.Child("devices")
	if len(s.Spec.Devices) > resourcev1.ResourceSliceMaxDevices {
		errs = append(errs, field.TooMany(dp, len(s.Spec.Devices), resourcev1.ResourceSliceMaxDevices))
	}
	names := sets.New[string]()
	for i, d := range s.Spec.Devices {
		p := dp.Index(i).Child("name")
		if d.Name == "" {
			errs = append(errs, field.Required(p, ""))
			continue
		}
		for _, msg := range validation.IsDNS1123Label(d.Name) {
			errs = append(errs, field.Invalid(p, d.Name, msg))
		}
		if names.Has(d.Name) {
			errs = append(errs, field.Duplicate(p, d.Name))
		}
		names.Insert(d.Name)
	}
	return errs
}
