// Package configmap serves core/v1 ConfigMaps.
package configmap

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is configmaps.
var Resource = &store.Resource{
	Name: "configmaps", Singular: "configmap", Namespaced: true, ShortNames: []string{"cm"},
	New:     func() runtime.Object { return &corev1.ConfigMap{} },
	NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.ConfigMap))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		cm, oldCM := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
		errs := Validate(cm)
		if oldCM.Immutable != nil && *oldCM.Immutable {
			if cm.Immutable == nil || !*cm.Immutable {
				errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
			}
			if !equalData(cm, oldCM) {
				errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
			}
		}
		return errs
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn, {Name: "Data", Type: "string"}, store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		cm := obj.(*corev1.ConfigMap)
		return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), store.Age(cm.CreationTimestamp)}
	},
}

// maxSize is the largest a ConfigMap's data may be, as upstream.
const maxSize = 1 * 1024 * 1024

// Validate checks the keys and size of a ConfigMap, with upstream's messages.
func Validate(cm *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for k, v := range cm.Data {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(k), k, msg))
		}
		if _, dup := cm.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(k), k, "duplicate of key present in binaryData"))
		}
		size += len(v)
	}
	for k, v := range cm.BinaryData {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, msg))
		}
		size += len(v)
	}
	if size > maxSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxSize))
	}
	return errs
}

func equalData(a, b *corev1.ConfigMap) bool {
	if len(a.Data) != len(b.Data) || len(a.BinaryData) != len(b.BinaryData) {
		return false
	}
	for k, v := range a.Data {
		if bv, ok := b.Data[k]; !ok || bv != v {
			return false
		}
	}
	for k, v := range a.BinaryData {
		if bv, ok := b.BinaryData[k]; !ok || string(bv) != string(v) {
			return false
		}
	}
	return true
}
