// Package clusterrole serves rbac.authorization.k8s.io/v1 ClusterRoles. An aggregation
// rule is stored as given; the aggregation controller fills the rules.
package clusterrole

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/rbac/validation"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is clusterroles.
var Resource = &store.Resource{
	Name: "clusterroles", Singular: "clusterrole",
	New:          func() runtime.Object { return &rbacv1.ClusterRole{} },
	NewList:      func() runtime.Object { return &rbacv1.ClusterRoleList{} },
	ValidateName: validation.Name,
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		cr := obj.(*rbacv1.ClusterRole)
		errs := validation.PolicyRules(cr.Rules, false, field.NewPath("rules"))
		return append(errs, validation.AggregationRule(cr.AggregationRule, field.NewPath("aggregationRule"))...)
	},
	Columns: validation.RoleColumns,
	Row: func(obj runtime.Object) []any {
		r := obj.(*rbacv1.ClusterRole)
		return []any{r.Name, validation.CreatedAt(r.CreationTimestamp)}
	},
}
