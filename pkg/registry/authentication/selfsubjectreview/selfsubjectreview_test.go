package selfsubjectreview

import (
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func TestWhoAmI(t *testing.T) {
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "system:admin", Groups: []string{"system:masters", "system:authenticated"}})
	out, err := New().Create(ctx, &authenticationv1.SelfSubjectReview{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := out.(*authenticationv1.SelfSubjectReview).Status.UserInfo
	if u.Username != "system:admin" || len(u.Groups) != 2 {
		t.Errorf("%+v", u)
	}
	if _, err := New().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, nil, nil); err == nil {
		t.Error("no user accepted")
	}
}
