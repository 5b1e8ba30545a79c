// Package persistentvolume serves core/v1 PersistentVolumes: upstream's defaults
// (reclaim policy Retain, volume mode Filesystem, phase Pending), validation of
// capacity, access modes and the one volume source, and kubectl's table.
package persistentvolume

import (
	"context"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is persistentvolumes.
var Resource = &store.Resource{
	Name: "persistentvolumes", Singular: "persistentvolume", ShortNames: []string{"pv"},
	New:      func() runtime.Object { return &corev1.PersistentVolume{} },
	NewList:  func() runtime.Object { return &corev1.PersistentVolumeList{} },
	Status:   true,
	Defaults: func(obj runtime.Object) { Defaults(obj.(*corev1.PersistentVolume)) },
	PrepareForCreate: func(_ context.Context, obj runtime.Object) {
		pv := obj.(*corev1.PersistentVolume)
		now := metav1.Now()
		pv.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending, LastPhaseTransitionTime: &now}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.PersistentVolume))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		pv, oldPV := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
		errs := Validate(pv)
		if !equality.Semantic.DeepEqual(pv.Spec.PersistentVolumeSource, oldPV.Spec.PersistentVolumeSource) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
		}
		if !equality.Semantic.DeepEqual(pv.Spec.VolumeMode, oldPV.Spec.VolumeMode) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "volumeMode"), pv.Spec.VolumeMode, "field is immutable"))
		}
		if oldPV.Spec.NodeAffinity != nil && !equality.Semantic.DeepEqual(pv.Spec.NodeAffinity, oldPV.Spec.NodeAffinity) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "nodeAffinity"), "", "field is immutable"))
		}
		return errs
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Capacity", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["capacity"]},
		{Name: "Access Modes", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["accessModes"]},
		{Name: "Reclaim Policy", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["persistentVolumeReclaimPolicy"]},
		{Name: "Status", Type: "string", Description: corev1.PersistentVolumeStatus{}.SwaggerDoc()["phase"]},
		{Name: "Claim", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["claimRef"]},
		{Name: "StorageClass", Type: "string", Description: "StorageClass of the pv"},
		{Name: "VolumeAttributesClass", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["volumeAttributesClassName"]},
		{Name: "Reason", Type: "string", Description: corev1.PersistentVolumeStatus{}.SwaggerDoc()["reason"]},
		store.AgeColumn,
		store.Wide(metav1.TableColumnDefinition{Name: "VolumeMode", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["volumeMode"]}),
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*corev1.PersistentVolume)) },
}

// Defaults applies upstream's v1 defaults.
func Defaults(pv *corev1.PersistentVolume) {
	if pv.Status.Phase == "" {
		pv.Status.Phase = corev1.VolumePending
	}
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		m := corev1.PersistentVolumeFilesystem
		pv.Spec.VolumeMode = &m
	}
	if hp := pv.Spec.HostPath; hp != nil && hp.Type == nil {
		t := corev1.HostPathUnset
		hp.Type = &t
	}
}

var (
	accessModes    = sets.New(string(corev1.ReadWriteOnce), string(corev1.ReadOnlyMany), string(corev1.ReadWriteMany), string(corev1.ReadWriteOncePod))
	reclaimPolices = sets.New(string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRecycle), string(corev1.PersistentVolumeReclaimRetain))
	volumeModes    = sets.New(string(corev1.PersistentVolumeBlock), string(corev1.PersistentVolumeFilesystem))
)

// ValidateAccessModes checks a list of access modes (shared with claims).
func ValidateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(modes) == 0 {
		return append(errs, field.Required(p, ""))
	}
	for _, m := range modes {
		if !accessModes.Has(string(m)) {
			errs = append(errs, field.NotSupported(p, m, sets.List(accessModes)))
		}
	}
	if len(modes) > 1 && sets.New(modes...).Has(corev1.ReadWriteOncePod) {
		errs = append(errs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

// ValidateVolumeMode checks a volume mode (shared with claims).
func ValidateVolumeMode(m *corev1.PersistentVolumeMode, p *field.Path) field.ErrorList {
	if m != nil && !volumeModes.Has(string(*m)) {
		return field.ErrorList{field.NotSupported(p, *m, sets.List(volumeModes))}
	}
	return nil
}

// Validate checks a PersistentVolume as upstream does for the common cases.
func Validate(pv *corev1.PersistentVolume) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	errs = append(errs, ValidateAccessModes(pv.Spec.AccessModes, spec.Child("accessModes"))...)
	if len(pv.Spec.Capacity) == 0 {
		errs = append(errs, field.Required(spec.Child("capacity"), ""))
	} else if q, ok := pv.Spec.Capacity[corev1.ResourceStorage]; !ok || len(pv.Spec.Capacity) > 1 {
		var keys []string
		for k := range pv.Spec.Capacity {
			keys = append(keys, string(k))
		}
		errs = append(errs, field.NotSupported(spec.Child("capacity"), strings.Join(keys, ","), []string{string(corev1.ResourceStorage)}))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(spec.Child("capacity").Key(string(corev1.ResourceStorage)), q.String(), "must be greater than zero"))
	}
	if r := pv.Spec.PersistentVolumeReclaimPolicy; r != "" && !reclaimPolices.Has(string(r)) {
		errs = append(errs, field.NotSupported(spec.Child("persistentVolumeReclaimPolicy"), r, sets.List(reclaimPolices)))
	}
	errs = append(errs, ValidateVolumeMode(pv.Spec.VolumeMode, spec.Child("volumeMode"))...)

	var sources []string
	src := reflect.ValueOf(pv.Spec.PersistentVolumeSource)
	for i := 0; i < src.NumField(); i++ {
		if !src.Field(i).IsNil() {
			name := src.Type().Field(i).Tag.Get("json")
			sources = append(sources, strings.Split(name, ",")[0])
		}
	}
	switch {
	case len(sources) == 0:
		errs = append(errs, field.Required(spec, "must specify a volume type"))
	case len(sources) > 1:
		errs = append(errs, field.Forbidden(spec.Child(sources[1]), "may not specify more than 1 volume type"))
	}
	if hp := pv.Spec.HostPath; hp != nil && hp.Path == "" {
		errs = append(errs, field.Required(spec.Child("hostPath", "path"), ""))
	}
	if l := pv.Spec.Local; l != nil {
		if l.Path == "" {
			errs = append(errs, field.Required(spec.Child("local", "path"), ""))
		}
		if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(spec.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	}
	if c := pv.Spec.CSI; c != nil {
		if c.Driver == "" {
			errs = append(errs, field.Required(spec.Child("csi", "driver"), ""))
		}
		if c.VolumeHandle == "" {
			errs = append(errs, field.Required(spec.Child("csi", "volumeHandle"), ""))
		}
	}
	if n := pv.Spec.NFS; n != nil {
		if n.Server == "" {
			errs = append(errs, field.Required(spec.Child("nfs", "server"), ""))
		}
		if n.Path == "" {
			errs = append(errs, field.Required(spec.Child("nfs", "path"), ""))
		}
	}
	return errs
}

// AccessModesString prints access modes as kubectl does: RWO,ROX,RWX,RWOP.
func AccessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	has := sets.New(modes...)
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{{corev1.ReadWriteOnce, "RWO"}, {corev1.ReadOnlyMany, "ROX"}, {corev1.ReadWriteMany, "RWX"}, {corev1.ReadWriteOncePod, "RWOP"}} {
		if has.Has(m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

// Row prints a PersistentVolume as kubectl does.
func Row(pv *corev1.PersistentVolume) []any {
	claim := ""
	if pv.Spec.ClaimRef != nil {
		claim = pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
	}
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	phase := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	class := pv.Spec.StorageClassName
	if c, ok := pv.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	}
	vac := "<unset>"
	if pv.Spec.VolumeAttributesClassName != nil {
		vac = *pv.Spec.VolumeAttributesClassName
	}
	mode := "<unset>"
	if pv.Spec.VolumeMode != nil {
		mode = string(*pv.Spec.VolumeMode)
	}
	return []any{pv.Name, capacity.String(), AccessModesString(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
		phase, claim, class, vac, pv.Status.Reason, store.Age(pv.CreationTimestamp), mode}
}
