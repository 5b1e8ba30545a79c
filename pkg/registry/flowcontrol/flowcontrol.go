// Package flowcontrol assembles the storages of the flowcontrol/v1 group version and
// keeps the API Priority and Fairness bootstrap configuration in place.
package flowcontrol

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/flowcontrol/flowschema"
	"github.com/skiff-k8s/skiff/pkg/registry/flowcontrol/prioritylevelconfiguration"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds flowcontrol/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(flowcontrolv1.SchemeGroupVersion, opts,
		flowschema.Resource,
		prioritylevelconfiguration.Resource,
	)
}
