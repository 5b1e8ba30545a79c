// Package rolebinding serves rbac.authorization.k8s.io/v1 RoleBindings.
package rolebinding

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/rbac/validation"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is rolebindings.
var Resource = &store.Resource{
	Name: "rolebindings", Singular: "rolebinding", Namespaced: true,
	New:          func() runtime.Object { return &rbacv1.RoleBinding{} },
	NewList:      func() runtime.Object { return &rbacv1.RoleBindingList{} },
	ValidateName: validation.Name,
	Defaults: func(obj runtime.Object) {
		b := obj.(*rbacv1.RoleBinding)
		validation.DefaultBinding(&b.RoleRef, b.Subjects)
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return validate(obj.(*rbacv1.RoleBinding))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		b := obj.(*rbacv1.RoleBinding)
		return append(validate(b), validation.RoleRefUnchanged(b.RoleRef, old.(*rbacv1.RoleBinding).RoleRef)...)
	},
	Columns: validation.BindingColumns("roleBinding"),
	Row: func(obj runtime.Object) []any {
		b := obj.(*rbacv1.RoleBinding)
		u, g, s := validation.SubjectCells(b.Subjects)
		return []any{b.Name, b.RoleRef.Kind + "/" + b.RoleRef.Name, store.Age(b.CreationTimestamp), u, g, s}
	},
}

func validate(b *rbacv1.RoleBinding) field.ErrorList {
	errs := validation.RoleRef(b.RoleRef, []string{"Role", "ClusterRole"})
	return append(errs, validation.Subjects(b.Subjects, true)...)
}
