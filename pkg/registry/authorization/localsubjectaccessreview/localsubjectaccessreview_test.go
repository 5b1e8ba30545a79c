package localsubjectaccessreview

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
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
	for _, rv := range []*authorizationv1.LocalSubjectAccessReview{review("prod", "prod"), review("dev", "prod")} {
		if _, err := r.Create(ctx, rv, nil, nil); !apierrors.IsBadRequest(err) {
			t.Errorf("%s/%s: %v", rv.Namespace, rv.Spec.ResourceAttributes.Namespace, err)
		}
	}
	bad := review("dev", "dev")
	bad.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: "/x"}
	if errs := Validate(bad); len(errs) != 2 {
		t.Errorf("non-resource: %v", errs)
	}
}
