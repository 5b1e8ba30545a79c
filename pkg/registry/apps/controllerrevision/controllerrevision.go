// Package controllerrevision serves apps/v1 ControllerRevisions: the immutable snapshots
// of pod templates that stateful sets and daemon sets roll between.
package controllerrevision

import (
	"context"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is controllerrevisions.
var Resource = &store.Resource{
	Name: "controllerrevisions", Singular: "controllerrevision", Namespaced: true,
	New:     func() runtime.Object { return &appsv1.ControllerRevision{} },
	NewList: func() runtime.Object { return &appsv1.ControllerRevisionList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*appsv1.ControllerRevision))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision))
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Controller", Type: "string", Description: "Controller of the object"},
		{Name: "Revision", Type: "integer", Description: appsv1.ControllerRevision{}.SwaggerDoc()["revision"]},
		store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		cr := obj.(*appsv1.ControllerRevision)
		return []any{cr.Name, controllerName(cr), cr.Revision, store.Age(cr.CreationTimestamp)}
	},
}

// controllerName prints the owning controller as kind.group/name ("statefulset.apps/web").
func controllerName(cr *appsv1.ControllerRevision) string {
	ref := metav1.GetControllerOf(cr)
	if ref == nil {
		return "<none>"
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "<none>"
	}
	gk := gv.WithKind(ref.Kind).GroupKind()
	if gk.Empty() {
		return ref.Name
	}
	return strings.ToLower(gk.String()) + "/" + ref.Name
}

// Validate requires data and a non-negative revision.
func Validate(cr *appsv1.ControllerRevision) field.ErrorList {
	var errs field.ErrorList
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(cr.Revision, field.NewPath("revision"))...)
	return errs
}

// ValidateUpdate keeps data as it was. The revision number may change: controllers
// renumber an old revision when they roll back to it, as upstream allows.
func ValidateUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	errs := Validate(cr)
	return append(errs, apivalidation.ValidateImmutableField(cr.Data, old.Data, field.NewPath("data"))...)
}
