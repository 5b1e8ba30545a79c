package clustertrustbundle

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func certPEM(t *testing.T, ca bool) string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestValidate(t *testing.T) {
	ca, leaf := certPEM(t, true), certPEM(t, false)
	for _, tc := range []struct {
		name, objName, signer, bundle, want string
	}{
		{"valid, no signer", "roots", "", ca, ""},
		{"valid, signer", "example.com:signer:roots", "example.com/signer", ca, ""},
		{"colon without signer", "a:b", "", ca, "must not have \":\""},
		{"wrong prefix", "roots", "example.com/signer", ca, "must be named with prefix example.com:signer:"},
		{"empty bundle", "roots", "", "", "at least one trust anchor"},
		{"not a CA", "roots", "", leaf, "does not have the CA bit set"},
		{"duplicate", "roots", "", ca + ca, "duplicate trust anchor (indices [0 1])"},
		{"bad block", "roots", "", "-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n", "bad block type"},
	} {
		b := &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: tc.objName},
			Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: tc.signer, TrustBundle: tc.bundle}}
		errs := Validate(b, true)
		if tc.want == "" && len(errs) > 0 || tc.want != "" && !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, errs)
		}
	}
}
