// Package subjectaccessreview serves authorization.k8s.io/v1 SubjectAccessReviews
// (create only: may this user do this?), and holds what the other access reviews
// share: spec validation, request attributes and the decision as a status.
package subjectaccessreview

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// New reviews access with authz.
func New(authz authorizer.Authorizer) *store.Review[*authorizationv1.SubjectAccessReview] {
	return &store.Review[*authorizationv1.SubjectAccessReview]{
		Singular: "subjectaccessreview",
		Empty:    func() *authorizationv1.SubjectAccessReview { return &authorizationv1.SubjectAccessReview{} },
		Check: func(_ context.Context, sar *authorizationv1.SubjectAccessReview) error {
			errs := ValidateSpec(sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes, field.NewPath("spec"))
			errs = append(errs, ValidateSubject(sar.Spec)...)
			errs = append(errs, ValidateEmptyMeta(sar.ObjectMeta)...)
			if len(errs) > 0 {
				return apierrors.NewInvalid(kind, "", errs)
			}
			return nil
		},
		Answer: func(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (runtime.Object, error) {
			sar.Status = Decide(ctx, authz, Attributes(SubjectOf(sar.Spec), sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes))
			return sar, nil
		},
	}
}

var kind = authorizationv1.SchemeGroupVersion.WithKind("SubjectAccessReview").GroupKind()

// ValidateSpec checks that exactly one of the resource and non-resource attributes is set.
func ValidateSpec(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ra != nil && nra != nil {
		errs = append(errs, field.Invalid(fldPath.Child("nonResourceAttributes"), nra, `cannot be specified in combination with resourceAttributes`))
	}
	if ra == nil && nra == nil {
		errs = append(errs, field.Invalid(fldPath.Child("resourceAttributes"), nra, `exactly one of nonResourceAttributes or resourceAttributes must be specified`))
	}
	return errs
}

// ValidateEmptyMeta checks that a review carries no metadata; the managed fields the
// API server itself adds on create do not count.
func ValidateEmptyMeta(m metav1.ObjectMeta) field.ErrorList {
	c := m
	c.ManagedFields = nil
	if !equality.Semantic.DeepEqual(metav1.ObjectMeta{}, c) {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), m, `must be empty`)}
	}
	return nil
}

// ValidateSubject checks that the spec names a user or a group.
func ValidateSubject(spec authorizationv1.SubjectAccessReviewSpec) field.ErrorList {
	if spec.User == "" && len(spec.Groups) == 0 {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "user"), spec.User, `at least one of user or group must be specified`)}
	}
	return nil
}

// SubjectOf is the user a SubjectAccessReviewSpec asks about.
func SubjectOf(spec authorizationv1.SubjectAccessReviewSpec) user.Info {
	u := &user.DefaultInfo{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	if len(spec.Extra) > 0 {
		u.Extra = make(map[string][]string, len(spec.Extra))
		for k, v := range spec.Extra {
			u.Extra[k] = v
		}
	}
	return u
}

// Attributes are the authorization attributes of a review's request.
func Attributes(u user.Info, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authorizer.Attributes {
	if ra != nil {
		return authorizer.AttributesRecord{User: u, Verb: ra.Verb, Namespace: ra.Namespace, APIGroup: ra.Group,
			APIVersion: ra.Version, Resource: ra.Resource, Subresource: ra.Subresource, Name: ra.Name, ResourceRequest: true}
	}
	return authorizer.AttributesRecord{User: u, Verb: nra.Verb, Path: nra.Path}
}

// Decide asks authz and writes its answer as a review status.
func Decide(ctx context.Context, authz authorizer.Authorizer, attrs authorizer.Attributes) authorizationv1.SubjectAccessReviewStatus {
	if authz == nil {
		return authorizationv1.SubjectAccessReviewStatus{EvaluationError: "no authorizer is configured"}
	}
	d, reason, err := authz.Authorize(ctx, attrs)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: d == authorizer.DecisionAllow, Denied: d == authorizer.DecisionDeny, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}
