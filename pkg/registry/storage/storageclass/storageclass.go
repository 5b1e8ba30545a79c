// Package storageclass serves storage.k8s.io/v1 StorageClasses: the provisioner and
// parameters of dynamically provisioned volumes, all fixed once created.
package storageclass

import (
	"context"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/storage/storageutil"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// The annotations that mark the default class, current and beta.
const (
	IsDefaultAnnotation     = "storageclass.kubernetes.io/is-default-class"
	BetaIsDefaultAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// Resource is storageclasses.
var Resource = &store.Resource{
	Name: "storageclasses", Singular: "storageclass", ShortNames: []string{"sc"},
	New:      func() runtime.Object { return &storagev1.StorageClass{} },
	NewList:  func() runtime.Object { return &storagev1.StorageClassList{} },
	Defaults: func(obj runtime.Object) { Default(obj.(*storagev1.StorageClass)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*storagev1.StorageClass))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Provisioner", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["provisioner"]},
		{Name: "ReclaimPolicy", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["reclaimPolicy"]},
		{Name: "VolumeBindingMode", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["volumeBindingMode"]},
		{Name: "AllowVolumeExpansion", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["allowVolumeExpansion"]},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*storagev1.StorageClass)) },
}

// Default fills the reclaim policy and binding mode as upstream v1 does.
func Default(sc *storagev1.StorageClass) {
	if sc.ReclaimPolicy == nil {
		p := corev1.PersistentVolumeReclaimDelete
		sc.ReclaimPolicy = &p
	}
	if sc.VolumeBindingMode == nil {
		m := storagev1.VolumeBindingImmediate
		sc.VolumeBindingMode = &m
	}
}

// IsDefault reports whether the class carries the default-class annotation.
func IsDefault(sc *storagev1.StorageClass) bool {
	return sc.Annotations[IsDefaultAnnotation] == "true" || sc.Annotations[BetaIsDefaultAnnotation] == "true"
}

// Row prints a class, its name suffixed "(default)" for the default class.
func Row(sc *storagev1.StorageClass) []any {
	name := sc.Name
	if IsDefault(sc) {
		name += " (default)"
	}
	reclaim, binding, expand := string(corev1.PersistentVolumeReclaimDelete), string(storagev1.VolumeBindingImmediate), false
	if sc.ReclaimPolicy != nil {
		reclaim = string(*sc.ReclaimPolicy)
	}
	if sc.VolumeBindingMode != nil {
		binding = string(*sc.VolumeBindingMode)
	}
	if sc.AllowVolumeExpansion != nil {
		expand = *sc.AllowVolumeExpansion
	}
	return []any{name, sc.Provisioner, reclaim, binding, expand, store.Age(sc.CreationTimestamp)}
}

var reclaimPolicies = []string{string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRetain)}
var bindingModes = []string{string(storagev1.VolumeBindingImmediate), string(storagev1.VolumeBindingWaitForFirstConsumer)}

// Validate checks a StorageClass with upstream's paths and messages.
func Validate(sc *storagev1.StorageClass) field.ErrorList {
	errs := storageutil.ValidateProvisioner(sc.Provisioner, field.NewPath("provisioner"))
	errs = append(errs, storageutil.ValidateParameters(sc.Parameters, true, field.NewPath("parameters"))...)
	if sc.ReclaimPolicy != nil && !slices.Contains(reclaimPolicies, string(*sc.ReclaimPolicy)) {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), *sc.ReclaimPolicy, reclaimPolicies))
	}
	if sc.VolumeBindingMode == nil {
		errs = append(errs, field.Required(field.NewPath("volumeBindingMode"), ""))
	} else if !slices.Contains(bindingModes, string(*sc.VolumeBindingMode)) {
		errs = append(errs, field.NotSupported(field.NewPath("volumeBindingMode"), *sc.VolumeBindingMode, bindingModes))
	}
	errs = append(errs, validateTopologies(sc.AllowedTopologies, field.NewPath("allowedTopologies"))...)
	for i, o := range sc.MountOptions {
		if strings.TrimSpace(o) == "" {
			errs = append(errs, field.Invalid(field.NewPath("mountOptions").Index(i), o, "must not be empty"))
		}
	}
	return errs
}

func validateTopologies(terms []corev1.TopologySelectorTerm, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, term := range terms {
		tp := p.Index(i)
		if len(term.MatchLabelExpressions) == 0 {
			errs = append(errs, field.Required(tp.Child("matchLabelExpressions"), "must contain at least one requirement"))
		}
		seen := map[string]bool{}
		for j, req := range term.MatchLabelExpressions {
			rp := tp.Child("matchLabelExpressions").Index(j)
			errs = append(errs, storageutil.ValidateLabelName(req.Key, rp.Child("key"))...)
			if seen[req.Key] {
				errs = append(errs, field.Duplicate(rp.Child("key"), req.Key))
			}
			seen[req.Key] = true
			if len(req.Values) == 0 {
				errs = append(errs, field.Required(rp.Child("values"), "must specify as least one value"))
			}
		}
	}
	return errs
}

// ValidateUpdate checks a class and that what upstream fixes at creation did not change.
func ValidateUpdate(sc, old *storagev1.StorageClass) field.ErrorList {
	errs := Validate(sc)
	if !reflect.DeepEqual(sc.Parameters, old.Parameters) {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != old.Provisioner {
		errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if !reflect.DeepEqual(sc.ReclaimPolicy, old.ReclaimPolicy) {
		errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	errs = append(errs, apivalidation.ValidateImmutableField(sc.VolumeBindingMode, old.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	return errs
}
