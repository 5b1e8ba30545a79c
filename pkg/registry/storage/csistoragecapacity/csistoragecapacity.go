// Package csistoragecapacity serves storage.k8s.io/v1 CSIStorageCapacities: the capacity
// a CSI driver reports for a storage class in a topology segment.
package csistoragecapacity

import (
	"context"

	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is csistoragecapacities.
var Resource = &store.Resource{
	Name: "csistoragecapacities", Singular: "csistoragecapacity", Namespaced: true,
	New:     func() runtime.Object { return &storagev1.CSIStorageCapacity{} },
	NewList: func() runtime.Object { return &storagev1.CSIStorageCapacityList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*storagev1.CSIStorageCapacity))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		c, o := obj.(*storagev1.CSIStorageCapacity), old.(*storagev1.CSIStorageCapacity)
		errs := Validate(c)
		errs = append(errs, apivalidation.ValidateImmutableField(c.NodeTopology, o.NodeTopology, field.NewPath("nodeTopology"))...)
		errs = append(errs, apivalidation.ValidateImmutableField(c.StorageClassName, o.StorageClassName, field.NewPath("storageClassName"))...)
		return errs
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "StorageClassName", Type: "string", Description: storagev1.CSIStorageCapacity{}.SwaggerDoc()["storageClassName"]},
		{Name: "Capacity", Type: "string", Description: storagev1.CSIStorageCapacity{}.SwaggerDoc()["capacity"]},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		c := obj.(*storagev1.CSIStorageCapacity)
		capacity := "<unset>"
		if c.Capacity != nil {
			capacity = c.Capacity.String()
		}
		return []any{c.Name, c.StorageClassName, capacity, store.Age(c.CreationTimestamp)}
	},
}

// Validate checks the class name, topology selector and quantities.
func Validate(c *storagev1.CSIStorageCapacity) field.ErrorList {
	var errs field.ErrorList
	if c.StorageClassName == "" {
		errs = append(errs, field.Required(field.NewPath("storageClassName"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(c.StorageClassName) {
			errs = append(errs, field.Invalid(field.NewPath("storageClassName"), c.StorageClassName, msg))
		}
	}
	errs = append(errs, metavalidation.ValidateLabelSelector(c.NodeTopology, metavalidation.LabelSelectorValidationOptions{}, field.NewPath("nodeTopology"))...)
	if c.Capacity != nil && c.Capacity.Sign() < 0 {
		errs = append(errs, field.Invalid(field.NewPath("capacity"), c.Capacity.String(), "must be greater than or equal to 0"))
	}
	if c.MaximumVolumeSize != nil && c.MaximumVolumeSize.Sign() < 0 {
		errs = append(errs, field.Invalid(field.NewPath("maximumVolumeSize"), c.MaximumVolumeSize.String(), "must be greater than or equal to 0"))
	}
	return errs
}
