package serviceaccount

import (
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
)

// LegacyIssuer is the "iss" of tokens kept in kubernetes.io/service-account-token secrets.
const LegacyIssuer = "kubernetes/serviceaccount"

// Claims is the payload of a service-account token: the registered JWT claims, the
// "kubernetes.io" claim of bound tokens, and the flat claims of legacy tokens.
type Claims struct {
	Issuer    string       `json:"iss,omitempty"`
	Subject   string       `json:"sub,omitempty"`
	Audience  Audience     `json:"aud,omitempty"`
	Expiry    *NumericDate `json:"exp,omitempty"`
	NotBefore *NumericDate `json:"nbf,omitempty"`
	IssuedAt  *NumericDate `json:"iat,omitempty"`
	ID        string       `json:"jti,omitempty"`

	Kubernetes *Kubernetes `json:"kubernetes.io,omitempty"`

	LegacyServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name,omitempty"`
	LegacyServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid,omitempty"`
	LegacySecretName         string `json:"kubernetes.io/serviceaccount/secret.name,omitempty"`
	LegacyNamespace          string `json:"kubernetes.io/serviceaccount/namespace,omitempty"`
}

// Kubernetes is the private claim of bound tokens: what the token is bound to.
type Kubernetes struct {
	Namespace      string       `json:"namespace,omitempty"`
	ServiceAccount Ref          `json:"serviceaccount,omitempty"`
	Pod            *Ref         `json:"pod,omitempty"`
	Secret         *Ref         `json:"secret,omitempty"`
	Node           *Ref         `json:"node,omitempty"`
	WarnAfter      *NumericDate `json:"warnafter,omitempty"`
}

// Ref names a bound object.
type Ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// NumericDate is seconds since the epoch, as JWT dates are written.
type NumericDate int64

// NewNumericDate converts a time.
func NewNumericDate(t time.Time) *NumericDate {
	d := NumericDate(t.Unix())
	return &d
}

// Time converts back to a time.
func (d *NumericDate) Time() time.Time {
	if d == nil {
		return time.Time{}
	}
	return time.Unix(int64(*d), 0)
}

// Audience is the "aud" claim: one string or a list of them.
type Audience []string

// MarshalJSON writes a single audience as a string, as go-jose (and so upstream) does.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or a list.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// Binding is what a bound token is tied to besides its service account; at most one
// of Pod, Secret and Node is the bound object, though a pod-bound token also names
// the pod's node.
type Binding struct {
	Pod    *corev1.Pod
	Secret *corev1.Secret
	Node   *corev1.Node
	// NodeName names the pod's node when the Node object is unknown.
	NodeName string
}

// BoundClaims are the claims of a TokenRequest token, as upstream issues them: valid
// from now for expirationSeconds, for the given audiences. warnAfter, when set, is when
// clients of an extended token should be warned it is stale.
func BoundClaims(sa *corev1.ServiceAccount, b Binding, audiences []string, expirationSeconds int64, warnAfter *time.Time, now time.Time) *Claims {
	c := &Claims{
		Subject:   apiserverserviceaccount.MakeUsername(sa.Namespace, sa.Name),
		Audience:  Audience(audiences),
		IssuedAt:  NewNumericDate(now),
		NotBefore: NewNumericDate(now),
		Expiry:    NewNumericDate(now.Add(time.Duration(expirationSeconds) * time.Second)),
		ID:        string(uuid.NewUUID()),
		Kubernetes: &Kubernetes{
			Namespace:      sa.Namespace,
			ServiceAccount: Ref{Name: sa.Name, UID: string(sa.UID)},
		},
	}
	if b.Pod != nil {
		c.Kubernetes.Pod = &Ref{Name: b.Pod.Name, UID: string(b.Pod.UID)}
	}
	if b.Secret != nil {
		c.Kubernetes.Secret = &Ref{Name: b.Secret.Name, UID: string(b.Secret.UID)}
	}
	if b.Node != nil {
		c.Kubernetes.Node = &Ref{Name: b.Node.Name, UID: string(b.Node.UID)}
	} else if b.NodeName != "" {
		c.Kubernetes.Node = &Ref{Name: b.NodeName}
	}
	if warnAfter != nil {
		c.Kubernetes.WarnAfter = NewNumericDate(*warnAfter)
	}
	return c
}

// LegacyClaims are the claims of a token kept in a service-account token secret.
func LegacyClaims(sa *corev1.ServiceAccount, secret *corev1.Secret) *Claims {
	return &Claims{
		Issuer:                   LegacyIssuer,
		Subject:                  apiserverserviceaccount.MakeUsername(sa.Namespace, sa.Name),
		LegacyServiceAccountName: sa.Name,
		LegacyServiceAccountUID:  string(sa.UID),
		LegacySecretName:         secret.Name,
		LegacyNamespace:          sa.Namespace,
	}
}
