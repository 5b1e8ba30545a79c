package store

import (
	"fmt"
	"net"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
)

// Options carry what the registries need from the server that hosts them.
type Options struct {
	RESTOptions generic.RESTOptionsGetter
	// ServiceCIDR is where ClusterIPs come from; NodePortBase and NodePortSize the node ports.
	ServiceCIDR  *net.IPNet
	NodePortBase int
	NodePortSize int
	// Authenticator and Authorizer back TokenReview and the access reviews.
	Authenticator authenticator.Request
	TokenAuth     authenticator.Token
	Authorizer    authorizer.Authorizer
	RuleResolver  authorizer.RuleResolver
	// KubeletClient holds the files the apiserver uses to reach kubelets over TLS:
	// its client certificate and key, and the CA that signs kubelet serving certificates.
	KubeletClient KubeletClientFiles
	// TokenIssuer signs service-account tokens (TokenRequest); nil disables it.
	TokenIssuer TokenIssuer
	// APIAudiences are the default audiences of issued tokens.
	APIAudiences []string
}

// TokenIssuer issues bound service-account tokens; pkg/serviceaccount implements it.
type TokenIssuer interface {
	// any is *serviceaccount.Claims; kept opaque here to avoid an import cycle.
	Issue(claims any) (string, error)
}

// KubeletClientFiles are paths of PEM files.
type KubeletClientFiles struct {
	CertFile, KeyFile, CAFile string
}

// Group is one served group version and its REST storages.
type Group struct {
	Version schema.GroupVersion
	Storage map[string]rest.Storage
	// AlsoServedAt lists further versions of the group that serve these same storages,
	// the scheme converting between them (autoscaling/v1 beside autoscaling/v2).
	AlsoServedAt []string
}

// BuildGroup builds every resource of one group version.
func BuildGroup(gv schema.GroupVersion, opts *Options, resources ...*Resource) (*Group, error) {
	g := &Group{Version: gv, Storage: map[string]rest.Storage{}}
	for _, r := range resources {
		if r.Kind().GroupVersion() != gv {
			return nil, fmt.Errorf("resource %s is %s, not in %s", r.Name, r.Kind().GroupVersion(), gv)
		}
		b, err := r.Build(opts.RESTOptions)
		if err != nil {
			return nil, err
		}
		for k, v := range b.Storage {
			g.Storage[k] = v
		}
	}
	return g, nil
}
