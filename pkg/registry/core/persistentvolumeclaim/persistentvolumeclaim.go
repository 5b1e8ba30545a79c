// Package persistentvolumeclaim serves core/v1 PersistentVolumeClaims: volume mode
// Filesystem and phase Pending by default, a spec fixed at creation but for the
// binding's volumeName, growth of a bound claim's storage request and
// volumeAttributesClassName, and kubectl's table.
package persistentvolumeclaim

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/core/persistentvolume"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is persistentvolumeclaims.
var Resource = &store.Resource{
	Name: "persistentvolumeclaims", Singular: "persistentvolumeclaim", Namespaced: true, ShortNames: []string{"pvc"},
	New:      func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
	NewList:  func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
	Status:   true,
	Defaults: func(obj runtime.Object) { Defaults(obj.(*corev1.PersistentVolumeClaim)) },
	PrepareForCreate: func(_ context.Context, obj runtime.Object) {
		obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.PersistentVolumeClaim))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim))
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Status", Type: "string", Description: corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["phase"]},
		{Name: "Volume", Type: "string", Description: corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeName"]},
		{Name: "Capacity", Type: "string", Description: corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["capacity"]},
		{Name: "Access Modes", Type: "string", Description: corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["accessModes"]},
		{Name: "StorageClass", Type: "string", Description: "StorageClass of the pvc"},
		{Name: "VolumeAttributesClass", Type: "string", Description: corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeAttributesClassName"]},
		store.AgeColumn,
		store.Wide(metav1.TableColumnDefinition{Name: "VolumeMode", Type: "string", Description: corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeMode"]}),
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*corev1.PersistentVolumeClaim)) },
}

// Defaults applies upstream's v1 defaults.
func Defaults(pvc *corev1.PersistentVolumeClaim) {
	if pvc.Status.Phase == "" {
		pvc.Status.Phase = corev1.ClaimPending
	}
	if pvc.Spec.VolumeMode == nil {
		m := corev1.PersistentVolumeFilesystem
		pvc.Spec.VolumeMode = &m
	}
}

// Validate checks access modes, the storage request, the selector and volume mode.
func Validate(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if len(pvc.Spec.AccessModes) == 0 {
		errs = append(errs, field.Required(spec.Child("accessModes"), "at least 1 access mode is required"))
	} else {
		errs = append(errs, persistentvolume.ValidateAccessModes(pvc.Spec.AccessModes, spec.Child("accessModes"))...)
	}
	if pvc.Spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(pvc.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
	}
	storageKey := spec.Child("resources", "requests").Key(string(corev1.ResourceStorage))
	if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(spec.Child("resources").Key(string(corev1.ResourceStorage)), ""))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(storageKey, q.String(), "must be greater than zero"))
	}
	errs = append(errs, persistentvolume.ValidateVolumeMode(pvc.Spec.VolumeMode, spec.Child("volumeMode"))...)
	return errs
}

// ValidateUpdate keeps the spec as created, but for what upstream lets change.
func ValidateUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := Validate(pvc)
	newSpec, oldSpec := pvc.Spec.DeepCopy(), old.Spec.DeepCopy()
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName // bound once, by the binder
	}
	oldSpec.VolumeAttributesClassName = newSpec.VolumeAttributesClassName
	if oldSpec.StorageClassName == nil {
		oldSpec.StorageClassName = newSpec.StorageClassName // the default class, set later
	}
	if old.Status.Phase == corev1.ClaimBound {
		newQ, hasNew := newSpec.Resources.Requests[corev1.ResourceStorage]
		oldQ := oldSpec.Resources.Requests[corev1.ResourceStorage]
		if hasNew && newQ.Cmp(oldQ) < 0 {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than previous value"))
		}
		if hasNew && oldSpec.Resources.Requests != nil {
			oldSpec.Resources.Requests[corev1.ResourceStorage] = newQ
		}
	}
	if !equality.Semantic.DeepEqual(newSpec, oldSpec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"),
			"spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	return errs
}

// Row prints a claim as kubectl does.
func Row(pvc *corev1.PersistentVolumeClaim) []any {
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		modes = persistentvolume.AccessModesString(pvc.Status.AccessModes)
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = q.String()
	}
	class := ""
	if c, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	} else if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	vac := "<unset>"
	if v := pvc.Spec.VolumeAttributesClassName; v != nil && *v != "" {
		vac = *v
	}
	mode := "<unset>"
	if pvc.Spec.VolumeMode != nil {
		mode = string(*pvc.Spec.VolumeMode)
	}
	return []any{pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class, vac, store.Age(pvc.CreationTimestamp), mode}
}
