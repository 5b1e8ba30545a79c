// Package rbac assembles the storages of the rbac/v1 group version.
package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds rbac/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(rbacv1.SchemeGroupVersion, opts)
}
