package certificatesigningrequest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func pemCSR(t *testing.T) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func validCSR(t *testing.T) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "jane", ResourceVersion: "1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: pemCSR(t), SignerName: "kubernetes.io/kube-apiserver-client",
			Usages: []certificatesv1.KeyUsage{"client auth"}}}
}

func TestValidate(t *testing.T) {
	short := int32(599)
	for _, tc := range []struct {
		name   string
		mutate func(*certificatesv1.CertificateSigningRequest)
		want   string
	}{
		{"valid", func(*certificatesv1.CertificateSigningRequest) {}, ""},
		{"not PEM", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("hello") }, "spec.request: Invalid value"},
		{"no usages", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil }, "spec.usages: Required value"},
		{"bad usage", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = []certificatesv1.KeyUsage{"fly"} }, "spec.usages[0]: Unsupported value"},
		{"dup usage", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = []certificatesv1.KeyUsage{"client auth", "client auth"}
		}, "spec.usages[1]: Duplicate value"},
		{"no signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" }, "spec.signerName: Required value"},
		{"bad signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "nodomain" }, "fully qualified domain and path"},
		{"one-label signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example/x" }, "at least two segments"},
		{"short", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = &short }, "less than 600 seconds"},
		{"approved and denied", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Approved", Status: "True"}, {Type: "Denied", Status: "True"}}
		}, "mutually exclusive"},
		{"approved false", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Approved", Status: "False"}}
		}, "status.conditions[0].status: Unsupported value"},
	} {
		c := validCSR(t)
		tc.mutate(c)
		errs := Validate(c, nil, options{})
		if tc.want == "" {
			if len(errs) > 0 {
				t.Errorf("%s: %v", tc.name, errs)
			}
			continue
		}
		if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, errs, tc.want)
		}
	}
}

func TestCreateRecordsRequestor(t *testing.T) {
	c := validCSR(t)
	c.Spec.Username = "forged"
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "jane", UID: "u", Groups: []string{"dev"}, Extra: map[string][]string{"k": {"v"}}})
	Resource.PrepareForCreate(ctx, c)
	if c.Spec.Username != "jane" || c.Spec.UID != "u" || c.Spec.Groups[0] != "dev" || c.Spec.Extra["k"][0] != "v" {
		t.Errorf("%+v", c.Spec)
	}
}

func TestApprovalAndStatus(t *testing.T) {
	old := validCSR(t)
	approved := old.DeepCopy()
	approved.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Approved", Status: corev1.ConditionTrue, Reason: "KubectlApprove"}}
	approved.Spec.SignerName = "example.com/changed"
	approved.Status.Certificate = []byte("garbage")

	approval := &updateStrategy{approval: true}
	approval.PrepareForUpdate(context.Background(), approved, old)
	if approved.Spec.SignerName != old.Spec.SignerName || approved.Status.Certificate != nil || approved.Status.Conditions[0].LastUpdateTime.IsZero() {
		t.Fatalf("approval kept more than conditions: %+v", approved)
	}
	if errs := approval.ValidateUpdate(context.Background(), approved, old); len(errs) > 0 {
		t.Fatalf("approve: %v", errs)
	}

	// /status may not approve, nor remove an approval.
	status := &updateStrategy{}
	sneaky := old.DeepCopy()
	sneaky.Status.Conditions = approved.Status.Conditions
	if errs := status.ValidateUpdate(context.Background(), sneaky, old); len(errs) == 0 {
		t.Error("status update added Approved")
	}
	removed := approved.DeepCopy()
	removed.Status.Conditions = nil
	if errs := status.ValidateUpdate(context.Background(), removed, approved); len(errs) == 0 {
		t.Error("status update removed Approved")
	}
	if got := Condition(approved); got != "Approved" {
		t.Errorf("condition %q", got)
	}
	approved.Status.Certificate = []byte("x")
	approved.Status.Conditions = append(approved.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: "Failed", Status: "True"})
	if got := Condition(approved); got != "Approved,Failed,Issued" {
		t.Errorf("condition %q", got)
	}
	row := Resource.Row(old)
	if len(row) != len(Resource.Columns) || row[2] != "kubernetes.io/kube-apiserver-client" || row[4] != "<none>" || row[5] != "Pending" {
		t.Errorf("row %v", row)
	}
}
