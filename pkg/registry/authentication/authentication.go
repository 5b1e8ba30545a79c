// Package authentication assembles the storages of the authentication/v1 group version:
// TokenReview and SelfSubjectReview, both create-only.
package authentication

import (
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/authentication/selfsubjectreview"
	"github.com/skiff-k8s/skiff/pkg/registry/authentication/tokenreview"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds authentication/v1.
func Group(opts *store.Options) (*store.Group, error) {
	g, err := store.BuildGroup(authenticationv1.SchemeGroupVersion, opts)
	if err != nil {
		return nil, err
	}
	g.Storage["tokenreviews"] = tokenreview.New(opts.TokenAuth, opts.APIAudiences)
	g.Storage["selfsubjectreviews"] = selfsubjectreview.New()
	return g, nil
}
