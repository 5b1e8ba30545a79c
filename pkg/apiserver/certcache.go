package apiserver

import (
	"crypto/sha256"
	"crypto/x509"
	"net/http"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
)

// k8s.io/apiserver's x509 authenticator verifies the client certificate chain on
// every request: chain building and an ECDSA signature check, some 60-100 µs of
// CPU, paid again for each request of a connection that presented the same
// certificates. The components inside `skiff server` (kubelet, scheduler,
// controllers) and kubectl with the admin kubeconfig all authenticate this way.
//
// cachedCertAuthenticator remembers successful verifications. An entry is used
// only for the same certificates (leaf and intermediates, byte for byte), only
// while the client CA is the same pool it was verified against (a reloaded CA
// file is a new pool, so rotation or removal of a CA takes effect at once), and
// never past the earliest NotAfter of the certificates presented or certTTL
// after the verification. Failures are not remembered.
type cachedCertAuthenticator struct {
	verify   x509request.VerifyOptionFunc
	delegate authenticator.Request
	now      func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]certEntry
}

type certEntry struct {
	roots   *x509.CertPool
	expires time.Time
	resp    *authenticator.Response
}

const (
	// certTTL bounds how long a verification is reused.
	certTTL = 5 * time.Minute
	// maxCertEntries bounds the cache; when full, expired entries go, and if
	// none has, all of them.
	maxCertEntries = 1024
)

// newCachedCertAuthenticator is the x509 client-certificate authenticator of the
// client CA verify, with verifications remembered.
func newCachedCertAuthenticator(verify x509request.VerifyOptionFunc, user x509request.UserConversion) *cachedCertAuthenticator {
	return &cachedCertAuthenticator{
		verify:   verify,
		delegate: x509request.NewDynamic(verify, user),
		now:      time.Now,
		entries:  map[[sha256.Size]byte]certEntry{},
	}
}

func (a *cachedCertAuthenticator) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	opts, ok := a.verify()
	if !ok || opts.Roots == nil {
		return a.delegate.AuthenticateRequest(req)
	}
	certs := req.TLS.PeerCertificates
	h := sha256.New()
	for _, c := range certs {
		h.Write(c.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	now := a.now()

	a.mu.Lock()
	e, hit := a.entries[key]
	a.mu.Unlock()
	if hit && e.roots == opts.Roots && now.Before(e.expires) {
		r := *e.resp
		return &r, true, nil
	}

	// Verified against opts.Roots or a newer pool; remembered under opts.Roots,
	// which a newer pool never matches.
	resp, ok, err := a.delegate.AuthenticateRequest(req)
	if !ok || err != nil {
		return resp, ok, err
	}
	expires := now.Add(certTTL)
	for _, c := range certs {
		if c.NotAfter.Before(expires) {
			expires = c.NotAfter
		}
	}
	a.mu.Lock()
	if len(a.entries) >= maxCertEntries {
		for k, old := range a.entries {
			if !now.Before(old.expires) {
				delete(a.entries, k)
			}
		}
		if len(a.entries) >= maxCertEntries {
			clear(a.entries)
		}
	}
	a.entries[key] = certEntry{roots: opts.Roots, expires: expires, resp: resp}
	a.mu.Unlock()
	r := *resp
	return &r, true, nil
}
