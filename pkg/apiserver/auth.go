package apiserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/informers"

	skiffrbac "github.com/skiff-k8s/skiff/pkg/rbac"
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
	// Authenticated users are in system:authenticated; a bad credential is an error
	// (401), not a fall back to anonymous.
	return union.NewFailOnError(group.NewAuthenticatedGroupAdder(union.New(chain...)), anonymous.NewAuthenticator(nil)), nil
}

// publicPaths are what anyone, anonymous users included, may read: upstream grants
// them through the system:public-info-viewer role; here they never depend on the RBAC
// policy having been written yet.
var publicPaths = []string{"/healthz", "/livez", "/readyz", "/version"}

// authz is skiff's authorizer: the public paths, then RBAC (system:masters always passes).
type authz struct{ rbac *skiffrbac.Authorizer }

func newAuthorizer(inf informers.SharedInformerFactory) (authorizer.Authorizer, authorizer.RuleResolver) {
	a := authz{rbac: skiffrbac.NewAuthorizerFromInformers(inf)}
	return a, a
}

func (z authz) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if !a.IsResourceRequest() && a.GetVerb() == "get" {
		p := a.GetPath()
		for _, pp := range publicPaths {
			if p == pp || strings.HasPrefix(p, pp+"/") {
				return authorizer.DecisionAllow, "", nil
			}
		}
	}
	return z.rbac.Authorize(ctx, a)
}

func (z authz) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	return z.rbac.RulesFor(ctx, u, namespace)
}

func (z authz) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(z.Authorize(ctx, a))
}

func (authz) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}
