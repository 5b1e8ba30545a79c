package serviceaccount

import (
	"crypto"
	"fmt"

	"github.com/skiff-k8s/skiff/pkg/pki"
)

// Issuer signs service-account tokens with one private key. It implements the
// registries' store.TokenIssuer.
type Issuer struct {
	issuer string
	key    crypto.Signer
	kid    string
}

// NewIssuer reads the PEM signing key (ECDSA P-256 or RSA) and issues tokens whose
// "iss" is issuerURL.
func NewIssuer(keyFile, issuerURL string) (*Issuer, error) {
	key, err := pki.ReadKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("service-account signing key: %w", err)
	}
	return NewIssuerFromKey(key, issuerURL)
}

// NewIssuerFromKey issues tokens with key.
func NewIssuerFromKey(key crypto.Signer, issuerURL string) (*Issuer, error) {
	if _, err := algorithmFor(key.Public()); err != nil {
		return nil, fmt.Errorf("service-account signing key: %w", err)
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	return &Issuer{issuer: issuerURL, key: key, kid: kid}, nil
}

// IssuerURL is the "iss" of bound tokens.
func (i *Issuer) IssuerURL() string { return i.issuer }

// PublicKey is the key that verifies this issuer's tokens.
func (i *Issuer) PublicKey() crypto.PublicKey { return i.key.Public() }

// Issue signs claims, a *Claims; an empty "iss" becomes the issuer URL.
func (i *Issuer) Issue(claims any) (string, error) {
	c, ok := claims.(*Claims)
	if !ok {
		return "", fmt.Errorf("issue token: claims are %T, not *serviceaccount.Claims", claims)
	}
	if c.Issuer == "" {
		cc := *c
		cc.Issuer = i.issuer
		c = &cc
	}
	return sign(i.key, i.kid, c)
}

// PublicKeysFromKeyFile returns the public half of a PEM private key file, for
// NewAuthenticator.
func PublicKeysFromKeyFile(keyFile string) ([]crypto.PublicKey, error) {
	key, err := pki.ReadKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	return []crypto.PublicKey{key.Public()}, nil
}
