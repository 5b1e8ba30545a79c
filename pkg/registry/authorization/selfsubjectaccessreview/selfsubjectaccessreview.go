// Package selfsubjectaccessreview serves authorization.k8s.io/v1
// SelfSubjectAccessReviews: may I do this? (kubectl auth can-i).
package selfsubjectaccessreview

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-k8s/skiff/pkg/registry/authorization/subjectaccessreview"
)

// REST creates SelfSubjectAccessReviews.
type REST struct{ authz authorizer.Authorizer }

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// New reviews the caller's access with authz.
func New(authz authorizer.Authorizer) *REST { return &REST{authz: authz} }

// New implements rest.Storage.
func (r *REST) New() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }

// Destroy implements rest.Storage.
func (r *REST) Destroy() {}

// NamespaceScoped implements rest.Scoper.
func (r *REST) NamespaceScoped() bool { return false }

// GetSingularName implements rest.SingularNameProvider.
func (r *REST) GetSingularName() string { return "selfsubjectaccessreview" }

// Create implements rest.Creater.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	ssar, ok := obj.(*authorizationv1.SelfSubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SelfSubjectAccessReview: %#v", obj))
	}
	errs := subjectaccessreview.ValidateSpec(ssar.Spec.ResourceAttributes, ssar.Spec.NonResourceAttributes, field.NewPath("spec"))
	if errs = append(errs, subjectaccessreview.ValidateEmptyMeta(ssar.ObjectMeta)...); len(errs) > 0 {
		return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview").GroupKind(), "", errs)
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewBadRequest("no user present on request")
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	ssar.Status = subjectaccessreview.Decide(ctx, r.authz, subjectaccessreview.Attributes(u, ssar.Spec.ResourceAttributes, ssar.Spec.NonResourceAttributes))
	return ssar, nil
}
