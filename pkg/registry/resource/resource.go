// Package resource assembles the storages of the resource/v1 group version.
package resource

import (
	resourcev1 "k8s.io/api/resource/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/resource/deviceclass"
	"github.com/skiff-k8s/skiff/pkg/registry/resource/devicetaintrule"
	"github.com/skiff-k8s/skiff/pkg/registry/resource/resourceclaim"
	"github.com/skiff-k8s/skiff/pkg/registry/resource/resourceclaimtemplate"
	"github.com/skiff-k8s/skiff/pkg/registry/resource/resourceslice"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	deviceclass.Resource,
	devicetaintrule.Resource,
	resourceclaim.Resource,
	resourceclaimtemplate.Resource,
	resourceslice.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds resource/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(resourcev1.SchemeGroupVersion, opts, resources...)
}
