// Package rbac assembles the storages of the rbac.authorization.k8s.io/v1 group
// version, and writes the bootstrap policy every new cluster starts with.
package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/rbac/clusterrole"
	"github.com/skiff-k8s/skiff/pkg/registry/rbac/clusterrolebinding"
	"github.com/skiff-k8s/skiff/pkg/registry/rbac/role"
	"github.com/skiff-k8s/skiff/pkg/registry/rbac/rolebinding"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	role.Resource,
	rolebinding.Resource,
	clusterrole.Resource,
	clusterrolebinding.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds rbac/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(rbacv1.SchemeGroupVersion, opts, resources...)
}
