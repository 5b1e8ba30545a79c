// Package selfsubjectrulesreview serves authorization.k8s.io/v1
// SelfSubjectRulesReviews: what may I do in this namespace? (kubectl auth can-i --list).
package selfsubjectrulesreview

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
)

// REST creates SelfSubjectRulesReviews.
type REST struct{ rules authorizer.RuleResolver }

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// New resolves rules with rules.
func New(rules authorizer.RuleResolver) *REST { return &REST{rules: rules} }

// New implements rest.Storage.
func (r *REST) New() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }

// Destroy implements rest.Storage.
func (r *REST) Destroy() {}

// NamespaceScoped implements rest.Scoper.
func (r *REST) NamespaceScoped() bool { return false }

// GetSingularName implements rest.SingularNameProvider.
func (r *REST) GetSingularName() string { return "selfsubjectrulesreview" }

// Create implements rest.Creater.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	review, ok := obj.(*authorizationv1.SelfSubjectRulesReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SelfSubjectRulesReview: %#v", obj))
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewBadRequest("no user present on request")
	}
	namespace := review.Spec.Namespace
	if namespace == "" {
		return nil, apierrors.NewBadRequest("no namespace on request")
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	out := &authorizationv1.SelfSubjectRulesReview{Spec: review.Spec,
		Status: authorizationv1.SubjectRulesReviewStatus{ResourceRules: []authorizationv1.ResourceRule{}, NonResourceRules: []authorizationv1.NonResourceRule{}}}
	if r.rules == nil {
		out.Status.Incomplete = true
		out.Status.EvaluationError = "no rule resolver is configured"
		return out, nil
	}
	resourceRules, nonResourceRules, incomplete, err := r.rules.RulesFor(ctx, u, namespace)
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
	return out, nil
}
