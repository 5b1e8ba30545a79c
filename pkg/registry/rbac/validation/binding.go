package validation

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// BindingParts returns the parts of a RoleBinding or ClusterRoleBinding that the two
// kinds share.
type BindingParts func(obj runtime.Object) (meta *metav1.ObjectMeta, ref *rbacv1.RoleRef, subjects []rbacv1.Subject)

// Binding completes r (name, kinds and namespacing set) as a binding resource: RBAC
// names, defaults, a roleRef naming one of refKinds that may not change, subjects
// (a service account may leave its namespace empty only in a namespaced binding), and
// the binding columns.
func Binding(r store.Resource, refKinds []string, parts BindingParts) *store.Resource {
	validate := func(obj runtime.Object) field.ErrorList {
		_, ref, subjects := parts(obj)
		return append(RoleRef(*ref, refKinds), Subjects(subjects, r.Namespaced)...)
	}
	r.ValidateName = Name
	r.Defaults = func(obj runtime.Object) {
		_, ref, subjects := parts(obj)
		DefaultBinding(ref, subjects)
	}
	r.Validate = func(_ context.Context, obj runtime.Object) field.ErrorList { return validate(obj) }
	r.ValidateUpdate = func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		_, ref, _ := parts(obj)
		_, oldRef, _ := parts(old)
		return append(validate(obj), RoleRefUnchanged(*ref, *oldRef)...)
	}
	r.Columns = BindingColumns("roleBinding")
	r.Row = func(obj runtime.Object) []any {
		meta, ref, subjects := parts(obj)
		u, g, s := SubjectCells(subjects)
		return []any{meta.Name, ref.Kind + "/" + ref.Name, store.Age(meta.CreationTimestamp), u, g, s}
	}
	return &r
}
