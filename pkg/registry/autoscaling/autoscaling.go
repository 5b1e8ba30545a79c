// Package autoscaling assembles the storages of the autoscaling/v2 group version.
package autoscaling

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/skiff-k8s/skiff/pkg/registry/autoscaling/horizontalpodautoscaler"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds autoscaling/v2.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(autoscalingv2.SchemeGroupVersion, opts, horizontalpodautoscaler.Resource)
}
