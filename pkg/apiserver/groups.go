package apiserver

import (
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	genericregistry "k8s.io/apiserver/pkg/registry/generic"

	"github.com/skiff-k8s/skiff/pkg/registry"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

func buildGroups(opts genericregistry.RESTOptionsGetter, cfg Config, a auth) ([]*store.Group, error) {
	return registry.Groups(&store.Options{
		RESTOptions:   opts,
		Authenticator: a.request,
		TokenAuth:     a.token,
		Authorizer:    a.authorizer,
		RuleResolver:  a.rules,
		TokenIssuer:   a.issuer,
		KubeletClient: store.KubeletClientFiles{CertFile: cfg.PKI.KubeletClientCert, KeyFile: cfg.PKI.KubeletClientKey, CAFile: cfg.PKI.ServerCA},
		ServiceCIDR:   cfg.ServiceCIDR,
		NodePortBase:  cfg.NodePortRange.Base,
		NodePortSize:  cfg.NodePortRange.Size,
		APIAudiences:  cfg.APIAudiences,
	})
}

// auth is what the registries need of authentication and authorization.
type auth struct {
	request    authenticator.Request
	token      authenticator.Token
	authorizer authorizer.Authorizer
	rules      authorizer.RuleResolver
	issuer     store.TokenIssuer
}
