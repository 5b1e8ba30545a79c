package tokenreview

import (
	"context"
	"errors"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// tokens accepts "good" for the audience "api" and fails "bad".
type tokens struct{}

func (tokens) AuthenticateToken(ctx context.Context, tok string) (*authenticator.Response, bool, error) {
	switch tok {
	case "good":
		auds, _ := authenticator.AudiencesFrom(ctx)
		got := auds.Intersect(authenticator.Audiences{"api"})
		if len(got) == 0 {
			return nil, false, errors.New("token audiences invalid")
		}
		return &authenticator.Response{User: &user.DefaultInfo{Name: "jane", Groups: []string{"dev"}, Extra: map[string][]string{"k": {"v"}}}, Audiences: got}, true, nil
	case "bad":
		return nil, false, errors.New("token has expired")
	}
	return nil, false, nil
}

func TestTokenReview(t *testing.T) {
	r := New(tokens{}, []string{"api"})
	ctx := context.Background()
	out, err := r.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "good"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := out.(*authenticationv1.TokenReview).Status
	if !st.Authenticated || st.User.Username != "jane" || st.User.Extra["k"][0] != "v" || len(st.Audiences) != 1 {
		t.Errorf("good: %+v", st)
	}
	out, _ = r.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "bad"}}, nil, nil)
	if st := out.(*authenticationv1.TokenReview).Status; st.Authenticated || st.Error == "" {
		t.Errorf("bad: %+v", st)
	}
	out, _ = r.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "good", Audiences: []string{"vault"}}}, nil, nil)
	if st := out.(*authenticationv1.TokenReview).Status; st.Authenticated {
		t.Errorf("other audience: %+v", st)
	}
	if _, err := r.Create(ctx, &authenticationv1.TokenReview{}, nil, nil); !apierrors.IsBadRequest(err) {
		t.Errorf("no token: %v", err)
	}
	if _, err := r.Create(genericapirequest.WithNamespace(ctx, "x"), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "good"}}, nil, nil); !apierrors.IsBadRequest(err) {
		t.Errorf("namespaced: %v", err)
	}
}
