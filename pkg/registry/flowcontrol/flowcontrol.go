// Package flowcontrol assembles the storages of the flowcontrol/v1 group version and
// keeps the API Priority and Fairness bootstrap configuration in place.
package flowcontrol

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/flowcontrol/flowschema"
	"github.com/skiff-k8s/skiff/pkg/registry/flowcontrol/prioritylevelconfiguration"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	flowschema.Resource,
	prioritylevelconfiguration.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds flowcontrol/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(flowcontrolv1.SchemeGroupVersion, opts, resources...)
}
