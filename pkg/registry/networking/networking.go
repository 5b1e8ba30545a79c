// Package networking assembles the storages of the networking/v1 group version.
package networking

import (
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds networking/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(networkingv1.SchemeGroupVersion, opts)
}
