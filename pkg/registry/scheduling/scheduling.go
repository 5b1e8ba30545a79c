// Package scheduling assembles the storages of the scheduling/v1 group version.
package scheduling

import (
	schedulingv1 "k8s.io/api/scheduling/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds scheduling/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(schedulingv1.SchemeGroupVersion, opts)
}
