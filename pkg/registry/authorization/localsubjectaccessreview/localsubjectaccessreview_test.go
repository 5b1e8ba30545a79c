package localsubjectaccessreview

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func TestNamespaceMustMatch(t *testing.T) {
	r := New(authorizerfactory.NewAlwaysAllowAuthorizer())
	ctx := genericapirequest.WithNamespace(context.Background(), "dev")
	review := func(metaNS, attrNS string) *authorizationv1.LocalSubjectAccessReview {
		return &authorizationv1.LocalSubjectAccessReview{ObjectMeta: metav1.ObjectMeta{Namespace: metaNS},
			Spec: authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: attrNS, Verb: "get", Resource: "pods"}}}
	}
	out, err := r.Create(ctx, review("dev", "dev"), nil, nil)
	if err != nil || !out.(*authorizationv1.LocalSubjectAccessReview).Status.Allowed {
		t.Fatalf("%v %v", out, err)
	}
	if _, err := r.Create(ctx, review("prod", "prod"), nil, nil); !apierrors.IsBadRequest(err) {
		t.Errorf("other namespace: %v", err)
	}
	if _, err := r.Create(ctx, review("dev", "prod"), nil, nil); !apierrors.IsInvalid(err) {
		t.Errorf("attributes of other namespace: %v", err)
	}
	bad := review("dev", "dev")
	bad.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: "/x"}
	if errs := Validate(bad); len(errs) != 2 {
		t.Errorf("non-resource: %v", errs)
	}
}
