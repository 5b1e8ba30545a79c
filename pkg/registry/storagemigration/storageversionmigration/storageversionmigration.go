// Package storageversionmigration serves storagemigration.k8s.io/v1
// StorageVersionMigrations: requests to rewrite every stored object of a resource, with
// their progress in status.
package storageversionmigration

import (
	"context"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is storageversionmigrations.
var Resource = &store.Resource{
	Name: "storageversionmigrations", Singular: "storageversionmigration", Status: true,
	New:     func() runtime.Object { return &storagemigrationv1.StorageVersionMigration{} },
	NewList: func() runtime.Object { return &storagemigrationv1.StorageVersionMigrationList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*storagemigrationv1.StorageVersionMigration))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		m, o := obj.(*storagemigrationv1.StorageVersionMigration), old.(*storagemigrationv1.StorageVersionMigration)
		return append(Validate(m), apivalidation.ValidateImmutableField(m.Spec, o.Spec, field.NewPath("spec"))...)
	},
	ValidateStatus: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateStatus(obj.(*storagemigrationv1.StorageVersionMigration), old.(*storagemigrationv1.StorageVersionMigration))
	},
}

// Validate checks the resource to migrate.
func Validate(m *storagemigrationv1.StorageVersionMigration) field.ErrorList {
	rp := field.NewPath("spec", "resource")
	var errs field.ErrorList
	if m.Spec.Resource.Resource == "" {
		errs = append(errs, field.Required(rp.Child("resource"), "resource is required"))
	}
	if g := m.Spec.Resource.Group; g != "" {
		for _, msg := range validation.IsDNS1123Subdomain(g) {
			errs = append(errs, field.Invalid(rp.Child("group"), g, msg))
		}
	}
	return errs
}

// ValidateStatus checks conditions: a finished migration is Succeeded or Failed, never
// both, and no longer Running; the resource version, once set, stays.
func ValidateStatus(m, old *storagemigrationv1.StorageVersionMigration) field.ErrorList {
	sp := field.NewPath("status")
	errs := metavalidation.ValidateConditions(m.Status.Conditions, sp.Child("conditions"))
	if old.Status.ResourceVersion != "" {
		errs = append(errs, apivalidation.ValidateImmutableField(m.Status.ResourceVersion, old.Status.ResourceVersion, sp.Child("resourceVersion"))...)
	}
	is := func(t storagemigrationv1.MigrationConditionType) bool {
		return meta.IsStatusConditionTrue(m.Status.Conditions, string(t))
	}
	cp := sp.Child("conditions")
	if is(storagemigrationv1.MigrationSucceeded) && is(storagemigrationv1.MigrationFailed) {
		errs = append(errs, field.Invalid(cp, m.Status.Conditions, "Both success and failed conditions cannot be true at the same time"))
	}
	if is(storagemigrationv1.MigrationRunning) && (is(storagemigrationv1.MigrationSucceeded) || is(storagemigrationv1.MigrationFailed)) {
		errs = append(errs, field.Invalid(cp, m.Status.Conditions, "Running condition cannot be true when success or failed condition is true"))
	}
	for _, t := range []storagemigrationv1.MigrationConditionType{storagemigrationv1.MigrationSucceeded, storagemigrationv1.MigrationFailed} {
		if meta.IsStatusConditionTrue(old.Status.Conditions, string(t)) && !is(t) {
			errs = append(errs, field.Invalid(cp, m.Status.Conditions, string(t)+" condition cannot be set to false once it is true"))
		}
	}
	return errs
}
