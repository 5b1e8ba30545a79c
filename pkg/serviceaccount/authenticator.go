package serviceaccount

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/token/jwt"
)

// Getter looks up the objects a token is bound to. Each method returns a NotFound
// API error when the object does not exist.
type Getter interface {
	GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
}

// leeway is the clock skew tolerated on exp, nbf and iat, as go-jose's default.
const leeway = time.Minute

// deletedGrace lets a token outlive its object's deletion timestamp by this much, as upstream.
const deletedGrace = 60 * time.Second

// Authenticator checks service-account tokens: signature, issuer, validity, audiences,
// and that the objects it is bound to still exist with the same UIDs.
type Authenticator struct {
	issuers      map[string]bool
	keys         []crypto.PublicKey
	kids         []string
	implicitAuds authenticator.Audiences
	getter       Getter
	now          func() time.Time
}

var _ authenticator.Token = &Authenticator{}

// NewAuthenticator accepts bound tokens from the given issuers and legacy secret
// tokens, signed by any of publicKeys. apiAudiences are the audiences the API server
// accepts; getter finds the bound objects (nil skips those checks, for tests only).
func NewAuthenticator(issuers []string, publicKeys []crypto.PublicKey, apiAudiences []string, getter Getter) *Authenticator {
	a := &Authenticator{issuers: map[string]bool{LegacyIssuer: true}, keys: publicKeys,
		implicitAuds: authenticator.Audiences(apiAudiences), getter: getter, now: time.Now}
	for _, i := range issuers {
		a.issuers[i] = true
	}
	for _, k := range publicKeys {
		kid, _ := KeyID(k)
		a.kids = append(a.kids, kid)
	}
	return a
}

// AuthenticateToken implements authenticator.Token. Tokens that are not JWTs, or come
// from another issuer, are left to other authenticators (false, nil).
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	p, err := parse(token)
	if err != nil {
		return nil, false, nil
	}
	var c Claims
	if err := json.Unmarshal(p.payload, &c); err != nil {
		return nil, false, nil
	}
	if !a.issuers[c.Issuer] {
		return nil, false, nil
	}
	if !a.verified(p) {
		return nil, false, errors.New("invalid bearer token: token signature is invalid")
	}

	tokenAuds := authenticator.Audiences(c.Audience)
	if len(tokenAuds) == 0 {
		tokenAuds = a.implicitAuds
	}
	requested, ok := authenticator.AudiencesFrom(ctx)
	if !ok {
		requested = a.implicitAuds
	}
	auds := tokenAuds.Intersect(requested)
	if len(auds) == 0 && len(a.implicitAuds) != 0 {
		return nil, false, fmt.Errorf("token audiences %q is invalid for the target audiences %q", tokenAuds, requested)
	}

	var info *apiserverserviceaccount.ServiceAccountInfo
	if c.Issuer == LegacyIssuer && c.Kubernetes == nil {
		info, err = a.validateLegacy(ctx, token, &c)
	} else {
		info, err = a.validateBound(ctx, &c)
	}
	if err != nil {
		return nil, false, err
	}
	return &authenticator.Response{User: info.UserInfo(), Audiences: auds}, true, nil
}

func (a *Authenticator) verified(p *parsed) bool {
	// The key named by kid first, then the others (tokens without a kid, rotated keys).
	for i, k := range a.keys {
		if p.header.Kid != "" && a.kids[i] == p.header.Kid && p.verify(k) {
			return true
		}
	}
	for i, k := range a.keys {
		if (p.header.Kid == "" || a.kids[i] != p.header.Kid) && p.verify(k) {
			return true
		}
	}
	return false
}

func (a *Authenticator) validateBound(ctx context.Context, c *Claims) (*apiserverserviceaccount.ServiceAccountInfo, error) {
	now := a.now()
	if c.Expiry != nil && now.After(c.Expiry.Time().Add(leeway)) {
		return nil, errors.New("service account token has expired")
	}
	if c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.Time()) {
		return nil, errors.New("service account token is not valid yet")
	}
	if c.IssuedAt != nil && now.Add(leeway).Before(c.IssuedAt.Time()) {
		return nil, errors.New("service account token is issued in the future")
	}
	k := c.Kubernetes
	if k == nil {
		return nil, errors.New("service account token claims could not be validated due to missing private claim")
	}
	namespace, saName, err := apiserverserviceaccount.SplitUsername(c.Subject)
	if err != nil || namespace != k.Namespace || saName != k.ServiceAccount.Name {
		return nil, errors.New("service account token claims do not match the subject")
	}
	info := &apiserverserviceaccount.ServiceAccountInfo{Namespace: namespace, Name: saName,
		UID: k.ServiceAccount.UID, CredentialID: jwt.CredentialIDForJTI(c.ID)}
	if a.getter == nil {
		fillBinding(info, k)
		return info, nil
	}
	sa, err := a.getter.GetServiceAccount(ctx, namespace, saName)
	if err := gone(err, sa, now, "service account %s/%s", namespace, saName); err != nil {
		return nil, err
	}
	if string(sa.UID) != k.ServiceAccount.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, k.ServiceAccount.UID)
	}
	if k.Secret != nil {
		s, err := a.getter.GetSecret(ctx, namespace, k.Secret.Name)
		if err := gone(err, s, now, "secret %s/%s", namespace, k.Secret.Name); err != nil {
			return nil, err
		}
		if string(s.UID) != k.Secret.UID {
			return nil, fmt.Errorf("secret UID (%s) does not match service account secret ref claim (%s)", s.UID, k.Secret.UID)
		}
	}
	if k.Pod != nil {
		pod, err := a.getter.GetPod(ctx, namespace, k.Pod.Name)
		if err := gone(err, pod, now, "pod %s/%s", namespace, k.Pod.Name); err != nil {
			return nil, err
		}
		if string(pod.UID) != k.Pod.UID {
			return nil, fmt.Errorf("pod UID (%s) does not match service account pod ref claim (%s)", pod.UID, k.Pod.UID)
		}
	}
	// A node named by a pod-bound token is informative; only a node-bound token's node
	// must still exist.
	if k.Node != nil && k.Pod == nil {
		node, err := a.getter.GetNode(ctx, k.Node.Name)
		if err := gone(err, node, now, "node %s", k.Node.Name); err != nil {
			return nil, err
		}
		if k.Node.UID != "" && string(node.UID) != k.Node.UID {
			return nil, fmt.Errorf("node UID (%s) does not match service account node ref claim (%s)", node.UID, k.Node.UID)
		}
	}
	fillBinding(info, k)
	return info, nil
}

func fillBinding(info *apiserverserviceaccount.ServiceAccountInfo, k *Kubernetes) {
	if k.Pod != nil {
		info.PodName, info.PodUID = k.Pod.Name, k.Pod.UID
	}
	if k.Node != nil {
		info.NodeName, info.NodeUID = k.Node.Name, k.Node.UID
	}
}

// gone turns a failed or stale lookup into the error upstream reports.
func gone[T metav1.Object](err error, obj T, now time.Time, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s has been deleted", what)
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", what, err)
	}
	if dt := obj.GetDeletionTimestamp(); dt != nil && dt.Time.Before(now.Add(-deletedGrace)) {
		return fmt.Errorf("%s is marked for deletion", what)
	}
	return nil
}

func (a *Authenticator) validateLegacy(ctx context.Context, token string, c *Claims) (*apiserverserviceaccount.ServiceAccountInfo, error) {
	if c.LegacyNamespace == "" || c.LegacyServiceAccountName == "" || c.LegacyServiceAccountUID == "" || c.LegacySecretName == "" {
		return nil, errors.New("service account token claims are incomplete")
	}
	namespace, saName, err := apiserverserviceaccount.SplitUsername(c.Subject)
	if err != nil || namespace != c.LegacyNamespace || saName != c.LegacyServiceAccountName {
		return nil, errors.New("service account token claims do not match the subject")
	}
	info := &apiserverserviceaccount.ServiceAccountInfo{Namespace: namespace, Name: saName, UID: c.LegacyServiceAccountUID}
	if a.getter == nil {
		return info, nil
	}
	now := a.now()
	secret, err := a.getter.GetSecret(ctx, namespace, c.LegacySecretName)
	if apierrors.IsNotFound(err) {
		return nil, errors.New("token has been invalidated")
	}
	if err != nil {
		return nil, fmt.Errorf("look up secret %s/%s: %w", namespace, c.LegacySecretName, err)
	}
	if secret.DeletionTimestamp != nil && secret.DeletionTimestamp.Time.Before(now.Add(-deletedGrace)) {
		return nil, errors.New("token has been invalidated")
	}
	if !bytes.Equal(secret.Data[corev1.ServiceAccountTokenKey], []byte(token)) {
		return nil, errors.New("token does not match server's copy")
	}
	sa, err := a.getter.GetServiceAccount(ctx, namespace, saName)
	if err := gone(err, sa, now, "service account %s/%s", namespace, saName); err != nil {
		return nil, err
	}
	if string(sa.UID) != c.LegacyServiceAccountUID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, c.LegacyServiceAccountUID)
	}
	return info, nil
}
