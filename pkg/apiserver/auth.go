package apiserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// newAuthenticator accepts, in order: client certificates signed by the client CA,
// bearer tokens (service-account JWTs), and finally anonymous requests, which the
// authorizer confines to the health and version endpoints.
func newAuthenticator(cfg Config, clientCA dynamiccertificates.CAContentProvider, tokens authenticator.Token) (authenticator.Request, error) {
	verifier, ok := clientCA.(dynamiccertificates.CAContentProvider).(interface {
		VerifyOptions() (x509.VerifyOptions, bool)
	})
	if !ok {
		return nil, fmt.Errorf("client CA cannot verify certificates")
	}
	chain := []authenticator.Request{x509request.NewDynamic(verifier.VerifyOptions, x509request.CommonNameUserConversion)}
	if tokens != nil {
		chain = append(chain, bearertoken.New(tokens), websocket.NewProtocolAuthenticator(tokens))
	}
	// A bad credential is an error (401), not a fall back to anonymous.
	return union.NewFailOnError(union.New(chain...), anonymous.NewAuthenticator(nil)), nil
}

// publicPaths are what anonymous users may read, as upstream's system:public-info-viewer.
var publicPaths = []string{"/healthz", "/livez", "/readyz", "/version"}

// authz is skiff's authorizer seam. Today it admits every authenticated user and confines
// anonymous users to publicPaths; RBAC enforcement replaces the first rule.
type authz struct{}

func newAuthorizer() (authorizer.Authorizer, authorizer.RuleResolver) { return authz{}, authz{} }

func isAnonymous(u user.Info) bool {
	if u == nil || u.GetName() == user.Anonymous {
		return true
	}
	for _, g := range u.GetGroups() {
		if g == user.AllUnauthenticated {
			return true
		}
	}
	return false
}

func (authz) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if !isAnonymous(a.GetUser()) {
		return authorizer.DecisionAllow, "", nil
	}
	if !a.IsResourceRequest() && a.GetVerb() == "get" {
		p := a.GetPath()
		for _, pp := range publicPaths {
			if p == pp || strings.HasPrefix(p, pp+"/") {
				return authorizer.DecisionAllow, "", nil
			}
		}
	}
	return authorizer.DecisionNoOpinion, "anonymous access is limited to /healthz, /livez, /readyz and /version", nil
}

func (authz) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	if isAnonymous(u) {
		return nil, []authorizer.NonResourceRuleInfo{&authorizer.DefaultNonResourceRuleInfo{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/livez", "/readyz", "/version", "/version/"}}}, false, nil
	}
	return []authorizer.ResourceRuleInfo{&authorizer.DefaultResourceRuleInfo{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}},
		[]authorizer.NonResourceRuleInfo{&authorizer.DefaultNonResourceRuleInfo{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}}, false, nil
}

func (z authz) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(z.Authorize(ctx, a))
}

func (authz) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}
