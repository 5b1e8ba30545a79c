// Package discovery assembles the storages of the discovery.k8s.io/v1 group version.
package discovery

import (
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/discovery/endpointslice"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	endpointslice.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds discovery.k8s.io/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(discoveryv1.SchemeGroupVersion, opts, resources...)
}
