// Package volumeattributesclass serves storage.k8s.io/v1 VolumeAttributesClasses: mutable
// volume attributes (IOPS, throughput, …) a CSI driver applies to existing volumes.
package volumeattributesclass

import (
	"context"
	"reflect"

	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/storage/storageutil"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is volumeattributesclasses.
var Resource = &store.Resource{
	Name: "volumeattributesclasses", Singular: "volumeattributesclass", ShortNames: []string{"vac"},
	New:     func() runtime.Object { return &storagev1.VolumeAttributesClass{} },
	NewList: func() runtime.Object { return &storagev1.VolumeAttributesClassList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*storagev1.VolumeAttributesClass))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*storagev1.VolumeAttributesClass), old.(*storagev1.VolumeAttributesClass))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "DriverName", Type: "string", Description: storagev1.VolumeAttributesClass{}.SwaggerDoc()["driverName"]},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		c := obj.(*storagev1.VolumeAttributesClass)
		return []any{c.Name, c.DriverName, store.Age(c.CreationTimestamp)}
	},
}

// Validate checks the driver name and parameters.
func Validate(c *storagev1.VolumeAttributesClass) field.ErrorList {
	errs := storageutil.ValidateProvisioner(c.DriverName, field.NewPath("driverName"))
	errs = append(errs, storageutil.ValidateParameters(c.Parameters, true, field.NewPath("parameters"))...)
	return errs
}

// ValidateUpdate checks a class and that its driver and parameters did not change.
func ValidateUpdate(c, old *storagev1.VolumeAttributesClass) field.ErrorList {
	errs := Validate(c)
	errs = append(errs, apivalidation.ValidateImmutableField(c.DriverName, old.DriverName, field.NewPath("driverName"))...)
	if !reflect.DeepEqual(c.Parameters, old.Parameters) {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	return errs
}
