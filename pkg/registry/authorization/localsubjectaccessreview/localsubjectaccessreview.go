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

	"github.com/skiff-k8s/skiff/pkg/registry/authorization/subjectaccessreview"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// New reviews access with authz.
func New(authz authorizer.Authorizer) *store.Review[*authorizationv1.LocalSubjectAccessReview] {
	return &store.Review[*authorizationv1.LocalSubjectAccessReview]{
		Singular: "localsubjectaccessreview", Namespaced: true,
		Empty: func() *authorizationv1.LocalSubjectAccessReview { return &authorizationv1.LocalSubjectAccessReview{} },
		Check: check,
		Answer: func(ctx context.Context, lsar *authorizationv1.LocalSubjectAccessReview) (runtime.Object, error) {
			lsar.Status = subjectaccessreview.Decide(ctx, authz, subjectaccessreview.Attributes(
				subjectaccessreview.SubjectOf(lsar.Spec), lsar.Spec.ResourceAttributes, lsar.Spec.NonResourceAttributes))
			return lsar, nil
		},
	}
}

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

// check refuses an invalid review, or one whose namespace is not the request's.
func check(ctx context.Context, lsar *authorizationv1.LocalSubjectAccessReview) error {
	if errs := Validate(lsar); len(errs) > 0 {
		return apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind("LocalSubjectAccessReview").GroupKind(), "", errs)
	}
	namespace := genericapirequest.NamespaceValue(ctx)
	if namespace == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("namespace is required on this type: %v", namespace))
	}
	if namespace != lsar.Namespace {
		return apierrors.NewBadRequest(fmt.Sprintf("spec.resourceAttributes.namespace must match namespace: %v", namespace))
	}
	return nil
}
