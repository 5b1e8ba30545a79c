// Package role serves rbac.authorization.k8s.io/v1 Roles.
package role

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/rbac/validation"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is roles.
var Resource = &store.Resource{
	Name: "roles", Singular: "role", Namespaced: true,
	New:          func() runtime.Object { return &rbacv1.Role{} },
	NewList:      func() runtime.Object { return &rbacv1.RoleList{} },
	ValidateName: validation.Name,
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return validation.PolicyRules(obj.(*rbacv1.Role).Rules, true, field.NewPath("rules"))
	},
	Columns: validation.RoleColumns,
	Row: func(obj runtime.Object) []any {
		r := obj.(*rbacv1.Role)
		return []any{r.Name, validation.CreatedAt(r.CreationTimestamp)}
	},
}
