// Package autoscaling assembles the storages of the autoscaling/v2 group version, also
// served as autoscaling/v1 (which kubectl autoscale still writes) through the
// conversions in horizontalpodautoscaler.
package autoscaling

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/skiff-k8s/skiff/pkg/registry/autoscaling/horizontalpodautoscaler"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	horizontalpodautoscaler.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds autoscaling/v2, and marks the same storages to be served at autoscaling/v1.
func Group(opts *store.Options) (*store.Group, error) {
	g, err := store.BuildGroup(autoscalingv2.SchemeGroupVersion, opts, resources...)
	if err != nil {
		return nil, err
	}
	g.AlsoServedAt = []string{autoscalingv1.SchemeGroupVersion.Version}
	return g, nil
}
