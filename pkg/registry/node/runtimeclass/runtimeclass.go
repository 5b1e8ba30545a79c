// Package runtimeclass serves node.k8s.io/v1 RuntimeClasses: a name for a container
// runtime configuration (the CRI handler), its pod overhead and scheduling constraints.
package runtimeclass

import (
	"context"

	nodev1 "k8s.io/api/node/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is runtimeclasses.
var Resource = &store.Resource{
	Name: "runtimeclasses", Singular: "runtimeclass",
	New:     func() runtime.Object { return &nodev1.RuntimeClass{} },
	NewList: func() runtime.Object { return &nodev1.RuntimeClassList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*nodev1.RuntimeClass))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		rc, oldRC := obj.(*nodev1.RuntimeClass), old.(*nodev1.RuntimeClass)
		return append(Validate(rc), apivalidation.ValidateImmutableField(rc.Handler, oldRC.Handler, field.NewPath("handler"))...)
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Handler", Type: "string", Description: "The name of the CRI handler to use."},
		store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		rc := obj.(*nodev1.RuntimeClass)
		return []any{rc.Name, rc.Handler, store.Age(rc.CreationTimestamp)}
	},
}

// Validate checks the handler (a DNS label), overhead and scheduling.
func Validate(rc *nodev1.RuntimeClass) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range apivalidation.NameIsDNSLabel(rc.Handler, false) {
		errs = append(errs, field.Invalid(field.NewPath("handler"), rc.Handler, msg))
	}
	if rc.Overhead != nil {
		p := field.NewPath("overhead", "podFixed")
		for name, q := range rc.Overhead.PodFixed {
			for _, msg := range validation.IsQualifiedName(string(name)) {
				errs = append(errs, field.Invalid(p.Key(string(name)), name, msg))
			}
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(p.Key(string(name)), q.String(), apivalidation.IsNegativeErrorMsg))
			}
		}
	}
	if s := rc.Scheduling; s != nil {
		p := field.NewPath("scheduling")
		errs = append(errs, metav1validation.ValidateLabels(s.NodeSelector, p.Child("nodeSelector"))...)
		errs = append(errs, pod.ValidateTolerations(s.Tolerations, p.Child("tolerations"))...)
	}
	return errs
}
