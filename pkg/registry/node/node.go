// Package node assembles the storages of the node.k8s.io/v1 group version.
package node

import (
	nodev1 "k8s.io/api/node/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/node/runtimeclass"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	runtimeclass.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds node.k8s.io/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(nodev1.SchemeGroupVersion, opts, resources...)
}
