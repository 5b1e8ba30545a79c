// Package selfsubjectrulesreview serves authorization.k8s.io/v1
// SelfSubjectRulesReviews: what may I do in this namespace? (kubectl auth can-i --list).
package selfsubjectrulesreview

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// New resolves rules with rules.
func New(rules authorizer.RuleResolver) *store.Review[*authorizationv1.SelfSubjectRulesReview] {
	return &store.Review[*authorizationv1.SelfSubjectRulesReview]{
		Singular: "selfsubjectrulesreview",
		Empty:    func() *authorizationv1.SelfSubjectRulesReview { return &authorizationv1.SelfSubjectRulesReview{} },
		Check:    check,
		Answer: func(ctx context.Context, review *authorizationv1.SelfSubjectRulesReview) (runtime.Object, error) {
			return answer(ctx, rules, review), nil
		},
	}
}

// check refuses a request with no user or a review with no namespace.
func check(ctx context.Context, review *authorizationv1.SelfSubjectRulesReview) error {
	if _, ok := genericapirequest.UserFrom(ctx); !ok {
		return apierrors.NewBadRequest("no user present on request")
	}
	if review.Spec.Namespace == "" {
		return apierrors.NewBadRequest("no namespace on request")
	}
	return nil
}

// answer lists the rules the caller has in the review's namespace.
func answer(ctx context.Context, rules authorizer.RuleResolver, review *authorizationv1.SelfSubjectRulesReview) *authorizationv1.SelfSubjectRulesReview {
	u, _ := genericapirequest.UserFrom(ctx)
	out := &authorizationv1.SelfSubjectRulesReview{Spec: review.Spec,
		Status: authorizationv1.SubjectRulesReviewStatus{ResourceRules: []authorizationv1.ResourceRule{}, NonResourceRules: []authorizationv1.NonResourceRule{}}}
	if rules == nil {
		out.Status.Incomplete = true
		out.Status.EvaluationError = "no rule resolver is configured"
		return out
	}
	resourceRules, nonResourceRules, incomplete, err := rules.RulesFor(ctx, u, review.Spec.Namespace)
	for _, rr := range resourceRules {
		out.Status.ResourceRules = append(out.Status.ResourceRules, authorizationv1.ResourceRule{
			Verbs: rr.GetVerbs(), APIGroups: rr.GetAPIGroups(), Resources: rr.GetResources(), ResourceNames: rr.GetResourceNames()})
	}
	for _, nr := range nonResourceRules {
		out.Status.NonResourceRules = append(out.Status.NonResourceRules, authorizationv1.NonResourceRule{
			Verbs: nr.GetVerbs(), NonResourceURLs: nr.GetNonResourceURLs()})
	}
	out.Status.Incomplete = incomplete
	if err != nil {
		out.Status.EvaluationError = err.Error()
	}
	return out
}
