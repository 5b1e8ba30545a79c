// Package serviceaccount issues and checks service-account tokens: compact JWS tokens
// signed ES256 (the default ECDSA P-256 key) or RS256, with the claims upstream
// Kubernetes puts in bound tokens (TokenRequest) and in legacy secret-based tokens.
// It uses only the standard library for the cryptography.
//
//	iss, _ := serviceaccount.NewIssuer(keyFile, "https://kubernetes.default.svc.cluster.local")
//	tok, _ := iss.Issue(serviceaccount.BoundClaims(sa, pod, nil, nil, 3600, nil, auds, time.Now()))
//	keys, _ := serviceaccount.PublicKeysFromKeyFile(keyFile)
//	authn := serviceaccount.NewAuthenticator([]string{issuer}, keys, auds, getter)
package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

var b64 = base64.RawURLEncoding

// header is the JOSE header of a compact JWS.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
}

// KeyID is the "kid" upstream puts in tokens: the URL-safe base64 SHA-256 of the
// public key's PKIX DER encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return b64.EncodeToString(sum[:]), nil
}

func algorithmFor(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA curve %s is not supported; use P-256", k.Curve.Params().Name)
		}
		return "ES256", nil
	case *rsa.PublicKey:
		return "RS256", nil
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// sign makes a compact JWS of payload.
func sign(key crypto.Signer, kid string, payload any) (string, error) {
	alg, err := algorithmFor(key.Public())
	if err != nil {
		return "", err
	}
	h, err := json.Marshal(header{Alg: alg, Kid: kid})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", fmt.Errorf("sign token: %w", err)
		}
		// JWS wants r and s as fixed-width big-endian integers, not ASN.1.
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		sig, err = key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return "", fmt.Errorf("sign token: %w", err)
		}
	}
	return input + "." + b64.EncodeToString(sig), nil
}

var errNotJWT = errors.New("not a JWT")

// parsed is a split, decoded compact JWS whose signature is not yet checked.
type parsed struct {
	header  header
	payload []byte
	input   string
	sig     []byte
}

func parse(token string) (*parsed, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errNotJWT
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, errNotJWT
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, errNotJWT
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, errNotJWT
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, errNotJWT
	}
	return &parsed{header: h, payload: payload, input: parts[0] + "." + parts[1], sig: sig}, nil
}

// verify checks the signature with one public key.
func (p *parsed) verify(pub crypto.PublicKey) bool {
	digest := sha256.Sum256([]byte(p.input))
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if p.header.Alg != "ES256" || len(p.sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(p.sig[:32])
		s := new(big.Int).SetBytes(p.sig[32:])
		return ecdsa.Verify(k, digest[:], r, s)
	case *rsa.PublicKey:
		if p.header.Alg != "RS256" {
			return false
		}
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], p.sig) == nil
	}
	return false
}
