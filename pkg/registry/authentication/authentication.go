// Package authentication assembles the storages of the authentication/v1 group version.
package authentication

import (
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds authentication/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(authenticationv1.SchemeGroupVersion, opts)
}
