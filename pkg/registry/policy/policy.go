// Package policy assembles the storages of the policy/v1 group version.
// (pods/eviction, also policy/v1 in its body, is served by the pods resource.)
package policy

import (
	policyv1 "k8s.io/api/policy/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/policy/poddisruptionbudget"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	poddisruptionbudget.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds policy/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(policyv1.SchemeGroupVersion, opts, resources...)
}
