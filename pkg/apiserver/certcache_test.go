package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return testCA{cert: c, key: key, pool: pool}
}

func (ca testCA) client(t testing.TB, cn string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn, Organization: []string{"team"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certRequest(c *x509.Certificate) *http.Request {
	return &http.Request{TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}}
}

// A verification is reused for the same certificate and the same CA pool, never
// past the certificate's NotAfter; a new pool verifies again; failures are not
// remembered.
func TestCachedCertAuthenticator(t *testing.T) {
	ca := newTestCA(t, "client-ca")
	pool := atomic.Pointer[x509.CertPool]{}
	pool.Store(ca.pool)
	var calls atomic.Int32
	verify := func() (x509.VerifyOptions, bool) {
		calls.Add(1)
		return x509.VerifyOptions{Roots: pool.Load(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, true
	}
	a := newCachedCertAuthenticator(verify, x509request.CommonNameUserConversion)
	notAfter := time.Now().Add(2 * time.Minute).Truncate(time.Second)
	alice := ca.client(t, "alice", notAfter)

	for i := range 3 {
		resp, ok, err := a.AuthenticateRequest(certRequest(alice))
		if err != nil || !ok || resp.User.GetName() != "alice" || len(resp.User.GetGroups()) != 1 || resp.User.GetGroups()[0] != "team" {
			t.Fatalf("request %d: %v %v %v", i, resp, ok, err)
		}
		resp.Audiences = []string{"changed by the caller"}
	}
	// One verification: each request reads the options once, the miss once more.
	if n := calls.Load(); n != 4 {
		t.Errorf("verify options read %d times for 3 requests, want 4 (one verification)", n)
	}
	resp, _, _ := a.AuthenticateRequest(certRequest(alice))
	if resp.Audiences != nil {
		t.Errorf("a caller's change to a response reached the cache: %v", resp.Audiences)
	}
	for _, e := range a.entries {
		if !e.expires.Equal(notAfter) {
			t.Errorf("entry expires %v, want the certificate's NotAfter %v", e.expires, notAfter)
		}
	}
	// Past the expiry the entry is not used.
	a.now = func() time.Time { return notAfter.Add(time.Second) }
	before := calls.Load()
	if _, ok, err := a.AuthenticateRequest(certRequest(alice)); !ok || err != nil {
		t.Fatalf("after expiry (verified again, at the real time): %v %v", ok, err)
	}
	if calls.Load()-before != 2 {
		t.Error("an expired entry was used")
	}
	a.now = time.Now

	// The client CA changes: a certificate of the old CA is refused at once.
	other := newTestCA(t, "other-ca")
	pool.Store(other.pool)
	if _, ok, err := a.AuthenticateRequest(certRequest(alice)); ok || err == nil {
		t.Fatalf("certificate of a CA no longer trusted: ok=%v err=%v", ok, err)
	}
	// A refused certificate stays refused, and is not remembered.
	n := len(a.entries)
	mallory := newTestCA(t, "mallory-ca").client(t, "mallory", notAfter)
	for range 2 {
		if _, ok, err := a.AuthenticateRequest(certRequest(mallory)); ok || err == nil {
			t.Fatalf("certificate of an unknown CA: ok=%v err=%v", ok, err)
		}
	}
	if len(a.entries) != n {
		t.Errorf("a failed verification was remembered")
	}
	// No certificate: not this authenticator's request.
	if _, ok, err := a.AuthenticateRequest(&http.Request{}); ok || err != nil {
		t.Errorf("request without TLS: ok=%v err=%v", ok, err)
	}
}

// BenchmarkCertAuthentication compares verifying a client certificate on each
// request with the cache.
func BenchmarkCertAuthentication(b *testing.B) {
	ca := newTestCA(b, "client-ca")
	verify := func() (x509.VerifyOptions, bool) {
		return x509.VerifyOptions{Roots: ca.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, true
	}
	req := certRequest(ca.client(b, "alice", time.Now().Add(time.Hour)))
	b.Run("upstream", func(b *testing.B) {
		a := x509request.NewDynamic(verify, x509request.CommonNameUserConversion)
		for b.Loop() {
			if _, ok, err := a.AuthenticateRequest(req); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		a := newCachedCertAuthenticator(verify, x509request.CommonNameUserConversion)
		for b.Loop() {
			if _, ok, err := a.AuthenticateRequest(req); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
}
