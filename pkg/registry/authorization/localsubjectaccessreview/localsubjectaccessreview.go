// Package localsubjectaccessreview serves authorization.k8s.io/v1
// LocalSubjectAccessReviews: a SubjectAccessReview confined to one namespace, so
// namespace admins may be allowed to ask it.
package localsubjectaccessreview

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-k8s/skiff/pkg/registry/authorization/subjectaccessreview"
)

// REST creates LocalSubjectAccessReviews.
type REST struct{ authz authorizer.Authorizer }

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// New reviews access with authz.
func New(authz authorizer.Authorizer) *REST { return &REST{authz: authz} }

// New implements rest.Storage.
func (r *REST) New() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }

// Destroy implements rest.Storage.
func (r *REST) Destroy() {}

// NamespaceScoped implements rest.Scoper.
func (r *REST) NamespaceScoped() bool { return true }

// GetSingularName implements rest.SingularNameProvider.
func (r *REST) GetSingularName() string { return "localsubjectaccessreview" }

// Validate checks a LocalSubjectAccessReview as upstream does.
func Validate(lsar *authorizationv1.LocalSubjectAccessReview) field.ErrorList {
	errs := subjectaccessreview.ValidateSpec(lsar.Spec.ResourceAttributes, lsar.Spec.NonResourceAttributes, field.NewPath("spec"))
	errs = append(errs, subjectaccessreview.ValidateSubject(lsar.Spec)...)
	meta := lsar.ObjectMeta
	meta.Namespace = ""
	meta.ManagedFields = nil
	if !equality.Semantic.DeepEqual(metav1.ObjectMeta{}, meta) {
		errs = append(errs, field.Invalid(field.NewPath("metadata"), lsar.ObjectMeta, `must be empty except for namespace`))
	}
	if ra := lsar.Spec.ResourceAttributes; ra != nil && ra.Namespace != lsar.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("spec", "resourceAttributes", "namespace"), ra.Namespace, `must match metadata.namespace`))
	}
	if lsar.Spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(field.NewPath("spec", "nonResourceAttributes"), lsar.Spec.NonResourceAttributes, `disallowed on this kind of request`))
	}
	return errs
}

// Create implements rest.Creater.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	lsar, ok := obj.(*authorizationv1.LocalSubjectAccessReview)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a LocalSubjectAccessReview: %#v", obj))
	}
	if errs := Validate(lsar); len(errs) > 0 {
		return nil, apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("LocalSubjectAccessReview").GroupKind(), "", errs)
	}
	namespace := genericapirequest.NamespaceValue(ctx)
	if namespace == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("namespace is required on this type: %v", namespace))
	}
	if namespace != lsar.Namespace {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("spec.resourceAttributes.namespace must match namespace: %v", namespace))
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	lsar.Status = subjectaccessreview.Decide(ctx, r.authz, subjectaccessreview.Attributes(
		subjectaccessreview.SubjectOf(lsar.Spec), lsar.Spec.ResourceAttributes, lsar.Spec.NonResourceAttributes))
	return lsar, nil
}
