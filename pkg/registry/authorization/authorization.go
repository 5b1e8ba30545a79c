// Package authorization assembles the storages of the authorization/v1 group version.
package authorization

import (
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds authorization/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(authorizationv1.SchemeGroupVersion, opts)
}
