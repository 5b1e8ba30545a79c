// Package authorization assembles the storages of the authorization/v1 group version:
// the create-only access reviews, answered by the server's authorizer and rule resolver.
package authorization

import (
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/authorization/localsubjectaccessreview"
	"github.com/skiff-k8s/skiff/pkg/registry/authorization/selfsubjectaccessreview"
	"github.com/skiff-k8s/skiff/pkg/registry/authorization/selfsubjectrulesreview"
	"github.com/skiff-k8s/skiff/pkg/registry/authorization/subjectaccessreview"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds authorization/v1.
func Group(opts *store.Options) (*store.Group, error) {
	g, err := store.BuildGroup(authorizationv1.SchemeGroupVersion, opts)
	if err != nil {
		return nil, err
	}
	g.Storage["subjectaccessreviews"] = subjectaccessreview.New(opts.Authorizer)
	g.Storage["selfsubjectaccessreviews"] = selfsubjectaccessreview.New(opts.Authorizer)
	g.Storage["localsubjectaccessreviews"] = localsubjectaccessreview.New(opts.Authorizer)
	g.Storage["selfsubjectrulesreviews"] = selfsubjectrulesreview.New(opts.RuleResolver)
	return g, nil
}
