package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/util/keyutil"
)

// writeCA writes a self-signed CA with key to dir and returns its certificate.
func writeCA(t *testing.T, dir string, key crypto.Signer) (*authority, *x509.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	a := &authority{certFile: filepath.Join(dir, "ca.crt"), keyFile: filepath.Join(dir, "ca.key")}
	if err := os.WriteFile(a.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return a, cert
}

func newCSR(t *testing.T, signerName, cn string, orgs []string, usages ...certificatesv1.KeyUsage) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: signerName,
			Usages:     usages,
		},
		Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{
			{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubectlApprove"}}},
	}
}

func handle(t *testing.T, s *signer, csr *certificatesv1.CertificateSigningRequest) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	client := fake.NewClientset(csr)
	s.client = client
	if err := s.handle(context.Background(), csr.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	got, err := client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), csr.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func issued(t *testing.T, csr *certificatesv1.CertificateSigningRequest, ca *x509.Certificate) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(csr.Status.Certificate)
	if block == nil {
		t.Fatalf("no certificate issued; conditions %+v", csr.Status.Conditions)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate does not verify against the CA: %v", err)
	}
	return cert
}

func TestSignsWithECDSAAndRSACAs(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, key := range map[string]crypto.Signer{"ecdsa": ecKey, "rsa": rsaKey} {
		t.Run(name, func(t *testing.T) {
			ca, caCert := writeCA(t, t.TempDir(), key)
			now := time.Now()
			s := &signer{ca: ca, duration: DefaultDuration, now: func() time.Time { return now }}

			got := handle(t, s, newCSR(t, certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n1",
				[]string{"system:nodes"}, certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth))
			cert := issued(t, got, caCert)
			if cert.Subject.CommonName != "system:node:n1" || cert.IsCA {
				t.Errorf("subject %v, isCA %v", cert.Subject, cert.IsCA)
			}
			if d := cert.NotAfter.Sub(cert.NotBefore); d != DefaultDuration {
				t.Errorf("validity %v, want the default %v", d, DefaultDuration)
			}

			// kube-apiserver-client honours a shorter expirationSeconds.
			c := newCSR(t, certificatesv1.KubeAPIServerClientSignerName, "jane", []string{"devs"}, certificatesv1.UsageClientAuth)
			hour := int32(3600)
			c.Spec.ExpirationSeconds = &hour
			cert = issued(t, handle(t, s, c), caCert)
			if !cert.NotAfter.Equal(now.Add(time.Hour).Truncate(time.Second)) {
				t.Errorf("NotAfter %v, want an hour after %v", cert.NotAfter, now)
			}
			if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
				t.Errorf("ext key usages %v", cert.ExtKeyUsage)
			}
		})
	}
}

func TestTTLBounds(t *testing.T) {
	s := &signer{duration: DefaultDuration}
	short, long := int32(60), int32(10*365*24*3600)
	if got := s.ttl(&short); got != minDuration {
		t.Errorf("ttl(60s) = %v, want %v", got, minDuration)
	}
	if got := s.ttl(&long); got != DefaultDuration {
		t.Errorf("ttl(10y) = %v, want %v", got, DefaultDuration)
	}
	if got := s.ttl(nil); got != DefaultDuration {
		t.Errorf("ttl(nil) = %v, want %v", got, DefaultDuration)
	}
}

func TestRefusalsAndSkips(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca, _ := writeCA(t, t.TempDir(), key)
	s := &signer{ca: ca, duration: DefaultDuration, now: time.Now}

	// A kubelet client request with the wrong organization fails.
	got := handle(t, s, newCSR(t, certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n1",
		[]string{"system:masters"}, certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth))
	if len(got.Status.Certificate) != 0 || len(got.Status.Conditions) != 2 {
		t.Fatalf("status = %+v, want a Failed condition and no certificate", got.Status)
	}
	if c := got.Status.Conditions[1]; c.Type != certificatesv1.CertificateFailed || c.Reason != "SignerValidationFailure" ||
		c.Message != "subject organization is not system:nodes" {
		t.Errorf("condition = %+v", c)
	}

	// A client request without client auth fails.
	got = handle(t, s, newCSR(t, certificatesv1.KubeAPIServerClientSignerName, "jane", nil, certificatesv1.UsageServerAuth))
	if c := got.Status.Conditions[len(got.Status.Conditions)-1]; c.Type != certificatesv1.CertificateFailed ||
		c.Message != "invalid usage for client certificate: server auth" {
		t.Errorf("condition = %+v", c)
	}

	// legacy-unknown, other signers, and unapproved requests are left alone.
	for _, c := range []*certificatesv1.CertificateSigningRequest{
		newCSR(t, "kubernetes.io/legacy-unknown", "jane", nil, certificatesv1.UsageClientAuth),
		newCSR(t, "example.com/mine", "jane", nil, certificatesv1.UsageClientAuth),
		func() *certificatesv1.CertificateSigningRequest {
			c := newCSR(t, certificatesv1.KubeAPIServerClientSignerName, "jane", nil, certificatesv1.UsageClientAuth)
			c.Status.Conditions = nil
			return c
		}(),
	} {
		got := handle(t, s, c)
		if len(got.Status.Certificate) != 0 || len(got.Status.Conditions) != len(c.Status.Conditions) {
			t.Errorf("%s: status changed: %+v", c.Spec.SignerName, got.Status)
		}
	}
}

func TestKubeletServingSignedByServingCA(t *testing.T) {
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	servingKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clientCA, _ := writeCA(t, t.TempDir(), clientKey)
	servingCA, servingCert := writeCA(t, t.TempDir(), servingKey)
	s := &signer{ca: clientCA, servingCA: servingCA, duration: DefaultDuration, now: time.Now}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}},
		DNSNames:    []string{"n1.example"},
		IPAddresses: []net.IP{net.ParseIP("192.0.2.7")},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := newCSR(t, certificatesv1.KubeletServingSignerName, "", nil, certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth)
	csr.Spec.Request = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	got := handle(t, s, csr)
	block, _ := pem.Decode(got.Status.Certificate)
	if block == nil {
		t.Fatalf("no certificate issued; conditions %+v", got.Status.Conditions)
	}
	cert, _ := x509.ParseCertificate(block.Bytes)
	pool := x509.NewCertPool()
	pool.AddCert(servingCert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "192.0.2.7", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("serving certificate does not verify against the serving CA for its IP: %v", err)
	}

	// A serving request without any SAN fails with upstream's message.
	got = handle(t, s, newCSR(t, certificatesv1.KubeletServingSignerName, "system:node:n1", []string{"system:nodes"},
		certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth))
	if c := got.Status.Conditions[len(got.Status.Conditions)-1]; c.Type != certificatesv1.CertificateFailed ||
		c.Message != "DNS or IP subjectAltName is required" {
		t.Errorf("condition = %+v", c)
	}
}
