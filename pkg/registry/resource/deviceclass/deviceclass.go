// Package deviceclass serves resource.k8s.io/v1 DeviceClasses: the kinds of device a
// claim may ask for, as selectors and configuration chosen by an administrator.
package deviceclass

import (
	"context"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/resource/resourceclaim"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is deviceclasses.
var Resource = &store.Resource{
	Name: "deviceclasses", Singular: "deviceclass", Generation: true,
	New:     func() runtime.Object { return &resourcev1.DeviceClass{} },
	NewList: func() runtime.Object { return &resourcev1.DeviceClassList{} },
	Columns: []metav1.TableColumnDefinition{store.NameColumn, store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		o := obj.(*resourcev1.DeviceClass)
		return []any{o.Name, store.Age(o.CreationTimestamp)}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*resourcev1.DeviceClass))
	},
}

// Validate checks selectors, configuration and the extended resource name.
func Validate(c *resourcev1.DeviceClass) field.ErrorList {
	sp := field.NewPath("spec")
	errs := resourceclaim.ValidateSelectors(c.Spec.Selectors, sp.Child("selectors"))
	for i, cfg := range c.Spec.Config {
		errs = append(errs, resourceclaim.ValidateOpaque(cfg.Opaque, sp.Child("config").Index(i))...)
	}
	if n := c.Spec.ExtendedResourceName; n != nil {
		for _, msg := range validation.IsQualifiedName(*n) {
			errs = append(errs, field.Invalid(sp.Child("extendedResourceName"), *n, msg))
		}
	}
	return errs
}
