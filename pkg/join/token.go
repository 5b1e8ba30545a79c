// Package join is the token-based join of a node to a skiff server, on the
// server's side and on the agent's.
//
// A join token has k3s' secure format, K10<CA hash>::server:<password>: the hash
// (hex SHA-256 of the server CA's PEM file, as /cacerts serves it) lets the
// agent check it reached the right cluster before it sends any credential, and
// the password is a Kubernetes bootstrap token (<id>.<secret>), which the
// apiserver authenticates as system:bootstrap:<id> in the group
// system:bootstrappers. With it, the agent creates its kubelet client
// certificate request (CSR), which the csrapproving controller approves:
//
//	t, _ := join.ParseToken(os.Getenv("TOKEN"))
//	res, err := join.Join(ctx, join.Config{Server: "https://10.0.0.1:6443", Token: t, Dir: "/var/lib/skiff/agent", NodeName: "edge-1"})
//
// The server writes its token to <data-dir>/server/token (EnsureServerToken) and
// stores the bootstrap token as a kube-system Secret (EnsureBootstrapSecret).
package join

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	bootstraputil "k8s.io/cluster-bootstrap/token/util"
)

// tokenPrefix starts the secure token format, as k3s spells it.
const tokenPrefix = "K10"

// defaultUsername is the user part of the credentials in the tokens skiff writes.
const defaultUsername = "server"

// Token is a parsed join token.
type Token struct {
	// CAHash is the hex SHA-256 of the server CA's PEM; empty for a short token,
	// which then cannot authenticate the server.
	CAHash string
	// Username is the user of the credentials (k3s' "server"); empty for a
	// token that carries a bare bootstrap token.
	Username string
	// Password is the shared secret: a bootstrap token <id>.<secret>, or any
	// other string, from which BootstrapToken derives one.
	Password string
}

// ParseToken reads a join token: the secure form K10<hash>::<user>:<password>
// or K10<hash>::<id>.<secret>, or a short token (the password alone).
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, errors.New("join token is empty")
	}
	if !strings.HasPrefix(s, tokenPrefix) {
		return Token{Password: s}, nil
	}
	hash, creds, ok := strings.Cut(strings.TrimPrefix(s, tokenPrefix), "::")
	if !ok {
		// A short token may start with K10 by chance.
		return Token{Password: s}, nil
	}
	if len(hash) != sha256.Size*2 {
		return Token{}, fmt.Errorf("join token: the CA hash after %s must be %d hex digits, got %d", tokenPrefix, sha256.Size*2, len(hash))
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return Token{}, fmt.Errorf("join token: the CA hash after %s is not hexadecimal", tokenPrefix)
	}
	t := Token{CAHash: strings.ToLower(hash)}
	if user, pw, ok := strings.Cut(creds, ":"); ok {
		t.Username, t.Password = user, pw
	} else {
		t.Password = creds
	}
	if t.Password == "" {
		return Token{}, errors.New("join token: no password after the CA hash")
	}
	return t, nil
}

// String is the token in its secure form when it has a CA hash.
func (t Token) String() string {
	if t.CAHash == "" {
		return t.Password
	}
	if t.Username == "" {
		return tokenPrefix + t.CAHash + "::" + t.Password
	}
	return tokenPrefix + t.CAHash + "::" + t.Username + ":" + t.Password
}

// BootstrapToken is the bootstrap token (<id>.<secret>) the password stands for:
// the password itself when it is one, otherwise one derived from it by SHA-256, so
// that a server started with any --token string and an agent given the same
// string agree on it.
func (t Token) BootstrapToken() string {
	if bootstraputil.IsValidBootstrapToken(t.Password) {
		return t.Password
	}
	sum := sha256.Sum256([]byte("skiff bootstrap token\x00" + t.Password))
	h := hex.EncodeToString(sum[:]) // [0-9a-f] is within the token alphabet [a-z0-9]
	return bootstraputil.TokenFromIDAndSecret(h[:6], h[6:22])
}

// HashCA is the CA hash of a join token: the hex SHA-256 of the CA bundle as
// served at /cacerts (the PEM file's bytes).
func HashCA(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}
