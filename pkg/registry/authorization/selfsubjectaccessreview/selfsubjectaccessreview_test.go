package selfsubjectaccessreview

import (
	"context"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func TestCreate(t *testing.T) {
	r := New(authorizerfactory.NewAlwaysAllowAuthorizer())
	if r.NamespaceScoped() || r.GetSingularName() != "selfsubjectaccessreview" {
		t.Errorf("scope %v, singular %q", r.NamespaceScoped(), r.GetSingularName())
	}
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "jane"})
	review := func() *authorizationv1.SelfSubjectAccessReview {
		return &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}}}
	}
	out, err := r.Create(ctx, review(), nil, nil)
	if err != nil || !out.(*authorizationv1.SelfSubjectAccessReview).Status.Allowed {
		t.Fatalf("%v %v", out, err)
	}
	if _, err := r.Create(context.Background(), review(), nil, nil); !apierrors.IsBadRequest(err) {
		t.Errorf("no user: %v", err)
	}
	named := review()
	named.ObjectMeta = metav1.ObjectMeta{Name: "x"}
	if _, err := r.Create(ctx, named, nil, nil); !apierrors.IsInvalid(err) {
		t.Errorf("metadata: %v", err)
	}
	if _, err := r.Create(ctx, &authorizationv1.SubjectAccessReview{}, nil, nil); !apierrors.IsBadRequest(err) ||
		!strings.Contains(err.Error(), "not a SelfSubjectAccessReview") {
		t.Errorf("wrong kind: %v", err)
	}
}
