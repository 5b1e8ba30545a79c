// Package bootstraptoken authenticates bootstrap tokens (<id>.<secret>) against
// the kube-system Secrets bootstrap-token-<id> of type bootstrap.kubernetes.io/token,
// as kube-apiserver's --enable-bootstrap-token-auth does: a valid token is the user
// system:bootstrap:<id> in the group system:bootstrappers and the Secret's
// auth-extra-groups. Joining nodes use one to request their first client certificate.
//
//	a := bootstraptoken.New(lister.Secrets(metav1.NamespaceSystem))
//	resp, ok, err := a.AuthenticateToken(ctx, "abcdef.0123456789abcdef")
package bootstraptoken

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	corelisters "k8s.io/client-go/listers/core/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	bootstrapsecretutil "k8s.io/cluster-bootstrap/util/secrets"
	"k8s.io/klog/v2"
)

// Authenticator checks bootstrap tokens against their Secrets.
type Authenticator struct {
	secrets corelisters.SecretNamespaceLister
	now     func() time.Time
}

// New returns an authenticator reading Secrets from lister, which must list the
// kube-system namespace.
func New(lister corelisters.SecretNamespaceLister) *Authenticator {
	return &Authenticator{secrets: lister, now: time.Now}
}

var _ authenticator.Token = (*Authenticator)(nil)

// AuthenticateToken implements authenticator.Token. A string that is not a
// bootstrap token, or one without a valid Secret, is not authenticated (without
// an error, so that other token authenticators may try it); as upstream, why is
// only logged, never told to the client.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	if !bootstraputil.IsValidBootstrapToken(token) {
		return nil, false, nil
	}
	id, secret := token[:6], token[7:]
	name := bootstraputil.BootstrapTokenSecretName(id)
	s, err := a.secrets.Get(name)
	if errors.IsNotFound(err) {
		klog.FromContext(ctx).V(3).Info("No secret for bootstrap token", "secret", name)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if reason := a.invalid(s, id, secret); reason != "" {
		klog.FromContext(ctx).V(3).Info("Bootstrap token rejected", "secret", name, "reason", reason)
		return nil, false, nil
	}
	groups, err := bootstrapsecretutil.GetGroups(s)
	if err != nil {
		klog.FromContext(ctx).V(3).Info("Bootstrap token rejected", "secret", name, "reason", err.Error())
		return nil, false, nil
	}
	return &authenticator.Response{User: &user.DefaultInfo{
		Name:   bootstrapapi.BootstrapUserPrefix + id,
		Groups: groups,
	}}, true, nil
}

// invalid says why s does not make id.secret a valid token, or "".
func (a *Authenticator) invalid(s *corev1.Secret, id, secret string) string {
	switch {
	case s.DeletionTimestamp != nil:
		return "the secret is being deleted"
	case s.Type != bootstrapapi.SecretTypeBootstrapToken:
		return fmt.Sprintf("the secret has type %q, not %q", s.Type, bootstrapapi.SecretTypeBootstrapToken)
	case subtle.ConstantTimeCompare([]byte(bootstrapsecretutil.GetData(s, bootstrapapi.BootstrapTokenSecretKey)), []byte(secret)) != 1:
		return "the token secret does not match"
	case bootstrapsecretutil.GetData(s, bootstrapapi.BootstrapTokenIDKey) != id:
		return "the token id does not match"
	case bootstrapsecretutil.HasExpired(s, a.now()):
		return "the token has expired"
	case bootstrapsecretutil.GetData(s, bootstrapapi.BootstrapTokenUsageAuthentication) != "true":
		return "the token may not be used for authentication"
	}
	return ""
}
