// Package tokenreview serves authentication.k8s.io/v1 TokenReviews: create only, it
// reports whether a bearer token authenticates and as whom, for the requested
// audiences (the API server's audiences when none are given).
package tokenreview

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// New reviews tokens with tokens (nil: every review is unauthenticated).
func New(tokens authenticator.Token, apiAudiences []string) *store.Review[*authenticationv1.TokenReview] {
	var auth authenticator.Request
	if tokens != nil {
		auth = bearertoken.New(tokens)
	}
	return &store.Review[*authenticationv1.TokenReview]{
		Singular: "tokenreview",
		Empty:    func() *authenticationv1.TokenReview { return &authenticationv1.TokenReview{} },
		Check:    check,
		Answer: func(ctx context.Context, review *authenticationv1.TokenReview) (runtime.Object, error) {
			return answer(ctx, auth, apiAudiences, review)
		},
	}
}

// check refuses a namespaced request or a review without a token.
func check(ctx context.Context, review *authenticationv1.TokenReview) error {
	if ns := genericapirequest.NamespaceValue(ctx); ns != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("namespace is not allowed on this type: %v", ns))
	}
	if review.Spec.Token == "" {
		return apierrors.NewBadRequest("token is required for TokenReview in authentication")
	}
	return nil
}

// answer authenticates the review's token with auth (nil: unauthenticated).
func answer(ctx context.Context, auth authenticator.Request, apiAudiences []string, review *authenticationv1.TokenReview) (runtime.Object, error) {
	if auth == nil {
		return review, nil
	}
	// A request with nothing but the token, so no other credential can answer.
	req := (&http.Request{Header: http.Header{}}).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+review.Spec.Token)
	auds := review.Spec.Audiences
	if len(auds) == 0 {
		auds = apiAudiences
	}
	if len(auds) > 0 {
		req = req.WithContext(authenticator.WithAudiences(req.Context(), auds))
	}
	resp, ok, err := auth.AuthenticateRequest(req)
	review.Status.Authenticated = ok
	if err != nil {
		review.Status.Error = err.Error()
	}
	if len(auds) > 0 && resp != nil && len(authenticator.Audiences(auds).Intersect(resp.Audiences)) == 0 {
		return nil, apierrors.NewInternalError(errors.New("error validating audiences"))
	}
	if resp != nil && resp.User != nil {
		u := resp.User
		review.Status.User = authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(),
			Extra: map[string]authenticationv1.ExtraValue{}}
		for k, v := range u.GetExtra() {
			review.Status.User.Extra[k] = v
		}
		review.Status.Audiences = resp.Audiences
	}
	return review, nil
}
