// Package storagemigration assembles the storages of the storagemigration/v1 group version.
package storagemigration

import (
	storagemigrationv1 "k8s.io/api/storagemigration/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/storagemigration/storageversionmigration"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	storageversionmigration.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds storagemigration/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(storagemigrationv1.SchemeGroupVersion, opts, resources...)
}
