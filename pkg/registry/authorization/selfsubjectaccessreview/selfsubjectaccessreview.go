// Package selfsubjectaccessreview serves authorization.k8s.io/v1
// SelfSubjectAccessReviews: may I do this? (kubectl auth can-i).
package selfsubjectaccessreview

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/skiff-k8s/skiff/pkg/registry/authorization/subjectaccessreview"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// New reviews the caller's access with authz.
func New(authz authorizer.Authorizer) *store.Review[*authorizationv1.SelfSubjectAccessReview] {
	return &store.Review[*authorizationv1.SelfSubjectAccessReview]{
		Singular: "selfsubjectaccessreview",
		Empty:    func() *authorizationv1.SelfSubjectAccessReview { return &authorizationv1.SelfSubjectAccessReview{} },
		Check: func(ctx context.Context, ssar *authorizationv1.SelfSubjectAccessReview) error {
			errs := subjectaccessreview.ValidateSpec(ssar.Spec.ResourceAttributes, ssar.Spec.NonResourceAttributes, field.NewPath("spec"))
			if errs = append(errs, subjectaccessreview.ValidateEmptyMeta(ssar.ObjectMeta)...); len(errs) > 0 {
				return apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview").GroupKind(), "", errs)
			}
			if _, ok := genericapirequest.UserFrom(ctx); !ok {
				return apierrors.NewBadRequest("no user present on request")
			}
			return nil
		},
		Answer: func(ctx context.Context, ssar *authorizationv1.SelfSubjectAccessReview) (runtime.Object, error) {
			u, _ := genericapirequest.UserFrom(ctx)
			ssar.Status = subjectaccessreview.Decide(ctx, authz, subjectaccessreview.Attributes(u, ssar.Spec.ResourceAttributes, ssar.Spec.NonResourceAttributes))
			return ssar, nil
		},
	}
}
