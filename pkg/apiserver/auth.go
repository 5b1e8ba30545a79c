package apiserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/informers"

	"github.com/skiff-k8s/skiff/pkg/pki"
	skiffrbac "github.com/skiff-k8s/skiff/pkg/rbac"
)

// verifyOptions turns a CA provider into the certificate check x509 authenticators use.
func verifyOptions(name string, ca dynamiccertificates.CAContentProvider) (x509request.VerifyOptionFunc, error) {
	v, ok := ca.(interface {
		VerifyOptions() (x509.VerifyOptions, bool)
	})
	if !ok {
		return nil, fmt.Errorf("%s CA cannot verify certificates", name)
	}
	return v.VerifyOptions, nil
}

// Front-proxy request headers, as kube-apiserver and every aggregated API server name them.
var (
	requestHeaderUsername    = []string{"X-Remote-User"}
	requestHeaderUID         = []string{"X-Remote-Uid"}
	requestHeaderGroup       = []string{"X-Remote-Group"}
	requestHeaderExtraPrefix = []string{"X-Remote-Extra-"}
)

// newRequestHeaderConfig trusts identity headers only on connections whose client
// certificate the request-header CA signed for the front proxy (the aggregator).
func newRequestHeaderConfig(caFile string) (*authenticatorfactory.RequestHeaderConfig, error) {
	ca, err := dynamiccertificates.NewDynamicCAContentFromFile("request-header", caFile)
	if err != nil {
		return nil, fmt.Errorf("request-header CA: %w", err)
	}
	return &authenticatorfactory.RequestHeaderConfig{
		UsernameHeaders:     headerrequest.StaticStringSlice(requestHeaderUsername),
		UIDHeaders:          headerrequest.StaticStringSlice(requestHeaderUID),
		GroupHeaders:        headerrequest.StaticStringSlice(requestHeaderGroup),
		ExtraHeaderPrefixes: headerrequest.StaticStringSlice(requestHeaderExtraPrefix),
		CAContentProvider:   ca,
		AllowedClientNames:  headerrequest.StaticStringSlice{pki.ProxyClientName},
	}, nil
}

// newAuthenticator accepts, in order: front-proxy request headers (on a connection
// the front proxy's certificate authenticates), client certificates signed by the
// client CA, bearer tokens (service-account JWTs), and finally anonymous requests,
// which the authorizer confines to the health and version endpoints.
func newAuthenticator(clientCA dynamiccertificates.CAContentProvider, rh *authenticatorfactory.RequestHeaderConfig, tokens authenticator.Token) (authenticator.Request, error) {
	clientVerify, err := verifyOptions("client", clientCA)
	if err != nil {
		return nil, err
	}
	proxyVerify, err := verifyOptions("request-header", rh.CAContentProvider)
	if err != nil {
		return nil, err
	}
	chain := []authenticator.Request{
		headerrequest.NewDynamicVerifyOptionsSecure(proxyVerify, rh.AllowedClientNames,
			rh.UsernameHeaders, rh.UIDHeaders, rh.GroupHeaders, rh.ExtraHeaderPrefixes),
		newCachedCertAuthenticator(clientVerify, x509request.CommonNameUserConversion),
	}
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
var publicPaths = []string{"/healthz", "/livez", "/readyz", "/version", caCertsPath}

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
