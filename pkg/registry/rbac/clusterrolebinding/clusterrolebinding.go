// Package clusterrolebinding serves rbac.authorization.k8s.io/v1 ClusterRoleBindings.
package clusterrolebinding

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-k8s/skiff/pkg/registry/rbac/validation"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is clusterrolebindings.
var Resource = validation.Binding(store.Resource{
	Name: "clusterrolebindings", Singular: "clusterrolebinding",
	New:     func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
	NewList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
}, []string{"ClusterRole"}, func(obj runtime.Object) (*metav1.ObjectMeta, *rbacv1.RoleRef, []rbacv1.Subject) {
	b := obj.(*rbacv1.ClusterRoleBinding)
	return &b.ObjectMeta, &b.RoleRef, b.Subjects
})
