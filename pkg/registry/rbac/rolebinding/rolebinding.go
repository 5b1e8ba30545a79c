// Package rolebinding serves rbac.authorization.k8s.io/v1 RoleBindings.
package rolebinding

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-k8s/skiff/pkg/registry/rbac/validation"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is rolebindings.
var Resource = validation.Binding(store.Resource{
	Name: "rolebindings", Singular: "rolebinding", Namespaced: true,
	New:     func() runtime.Object { return &rbacv1.RoleBinding{} },
	NewList: func() runtime.Object { return &rbacv1.RoleBindingList{} },
}, []string{"Role", "ClusterRole"}, func(obj runtime.Object) (*metav1.ObjectMeta, *rbacv1.RoleRef, []rbacv1.Subject) {
	b := obj.(*rbacv1.RoleBinding)
	return &b.ObjectMeta, &b.RoleRef, b.Subjects
})
