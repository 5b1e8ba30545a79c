package podcertificaterequest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func valid(t *testing.T) *certificatesv1.PodCertificateRequest {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	r := &certificatesv1.PodCertificateRequest{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"},
		Spec: certificatesv1.PodCertificateRequestSpec{SignerName: "example.com/pods", PodName: "p", PodUID: "pu",
			ServiceAccountName: "default", ServiceAccountUID: "su", NodeName: "n1", NodeUID: "nu", StubPKCS10Request: der}}
	Resource.Defaults(r)
	return r
}

func TestValidate(t *testing.T) {
	if r := valid(t); *r.Spec.MaxExpirationSeconds != 86400 || len(Validate(r)) > 0 {
		t.Fatalf("valid: %v", Validate(r))
	}
	long := int32(90000)
	for _, tc := range []struct {
		name   string
		mutate func(*certificatesv1.PodCertificateRequest)
		want   string
	}{
		{"no pod uid", func(r *certificatesv1.PodCertificateRequest) { r.Spec.PodUID = "" }, "spec.podUID: Invalid value: \"\": must not be empty"},
		{"bad stub", func(r *certificatesv1.PodCertificateRequest) { r.Spec.StubPKCS10Request = []byte("x") }, "spec.stubPKCS10Request"},
		{"kubernetes signer max 24h", func(r *certificatesv1.PodCertificateRequest) {
			r.Spec.SignerName = "kubernetes.io/kube-apiserver-client-pod"
			r.Spec.MaxExpirationSeconds = &long
		}, "must be in the range [3600, 86400]"},
		{"bad signer", func(r *certificatesv1.PodCertificateRequest) { r.Spec.SignerName = "x" }, "spec.signerName"},
	} {
		r := valid(t)
		tc.mutate(r)
		if errs := Validate(r); !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, errs)
		}
	}
}

func TestValidateStatus(t *testing.T) {
	old := valid(t)
	denied := old.DeepCopy()
	denied.Status.Conditions = []metav1.Condition{{Type: "Denied", Status: "True", Reason: "UnsupportedKeyType", LastTransitionTime: metav1.Now()}}
	if errs := ValidateStatus(denied, old); len(errs) > 0 {
		t.Fatalf("deny: %v", errs)
	}
	again := denied.DeepCopy()
	again.Status.Conditions[0].Message = "changed"
	if errs := ValidateStatus(again, denied); len(errs) == 0 {
		t.Error("terminal status changed")
	}
	issued := old.DeepCopy()
	issued.Status.Conditions = []metav1.Condition{{Type: "Issued", Status: "True", Reason: "Issued", LastTransitionTime: metav1.Now()}}
	if errs := ValidateStatus(issued, old); len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "at least one certificate") {
		t.Errorf("issued without chain: %v", errs)
	}
	two := old.DeepCopy()
	two.Status.Conditions = append(denied.Status.Conditions, metav1.Condition{Type: "Failed", Status: "True", Reason: "X", LastTransitionTime: metav1.Now()})
	if errs := ValidateStatus(two, old); len(errs) == 0 {
		t.Error("two terminal conditions accepted")
	}
}
