// Package coordination assembles the storages of the coordination.k8s.io/v1 group version.
package coordination

import (
	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/coordination/lease"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	lease.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds coordination.k8s.io/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(coordinationv1.SchemeGroupVersion, opts, resources...)
}
