package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/keyutil"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

const csrTimeout = time.Minute

// newCSR makes a CertificateSigningRequest for cn/orgs with a fresh ECDSA key and
// returns it with the key's PEM.
func newCSR(t *testing.T, name, signer, cn string, orgs []string, usages ...certificatesv1.KeyUsage) (*certificatesv1.CertificateSigningRequest, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: signer,
			Usages:     usages,
		},
	}, keyPEM
}

// waitIssued waits for the CSR's certificate, checks it verifies against the
// cluster's client CA as a client certificate, and returns it.
func waitIssued(t *testing.T, c kubernetes.Interface, name string) (*certificatesv1.CertificateSigningRequest, *x509.Certificate) {
	t.Helper()
	var csr *certificatesv1.CertificateSigningRequest
	eventually(t, csrTimeout, func() error {
		var err error
		csr, err = c.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(csr.Status.Certificate) == 0 {
			return fmt.Errorf("no certificate yet; conditions %+v", csr.Status.Conditions)
		}
		return nil
	})
	block, _ := pem.Decode(csr.Status.Certificate)
	if block == nil {
		t.Fatalf("status.certificate is not PEM: %q", csr.Status.Certificate)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(srv.DataDir, "server", "tls", "client-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate does not verify against the client CA: %v", err)
	}
	return csr, cert
}

// whoAmI authenticates to the server with the issued certificate and key.
func whoAmI(t *testing.T, certPEM, keyPEM []byte) authenticationv1.UserInfo {
	t.Helper()
	cfg := rest.CopyConfig(srv.Config)
	cfg.BearerToken, cfg.BearerTokenFile, cfg.Username, cfg.Password = "", "", "", ""
	cfg.CertFile, cfg.KeyFile = "", ""
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("authenticate with the issued certificate: %v", err)
	}
	return r.Status.UserInfo
}

func deleteCSR(c kubernetes.Interface, name string) {
	_ = c.CertificatesV1().CertificateSigningRequests().Delete(context.Background(), name, metav1.DeleteOptions{})
}

// TestNodeClientCSRAutoApproved has the simulated nodes' identity (system:node:skiff-sim,
// group system:nodes) ask for its own client certificate; the bootstrap policy lets
// system:nodes create certificatesigningrequests/selfnodeclient (kubeadm's
// node-autoapprove-certificate-rotation binding), so csrapproving approves it and
// csrsigning issues it.
func TestNodeClientCSRAutoApproved(t *testing.T) {
	ctx := ctxT(t)
	admin := srv.Client
	for role, group := range map[string]string{
		"system:certificates.k8s.io:certificatesigningrequests:selfnodeclient": "system:nodes",
		"system:certificates.k8s.io:certificatesigningrequests:nodeclient":     "system:bootstrappers",
		"system:node-bootstrapper": "system:bootstrappers",
	} {
		b, err := admin.RbacV1().ClusterRoleBindings().Get(ctx, role, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("bootstrap binding %s: %v", role, err)
		}
		if b.RoleRef.Name != role || len(b.Subjects) != 1 || b.Subjects[0].Name != group {
			t.Errorf("binding %s = %+v %+v, want %s bound to group %s", role, b.RoleRef, b.Subjects, role, group)
		}
	}

	nodeCfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(srv.DataDir, "server", "cred", "sim.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := kubernetes.NewForConfig(nodeCfg)
	if err != nil {
		t.Fatal(err)
	}
	name := "node-csr-" + strings.ToLower(fmt.Sprint(time.Now().UnixNano()))
	req, keyPEM := newCSR(t, name, certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:skiff-sim",
		[]string{"system:nodes"}, certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth)
	if _, err := node.CertificatesV1().CertificateSigningRequests().Create(ctx, req, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node creates its CSR: %v", err)
	}
	t.Cleanup(func() { deleteCSR(admin, name) })

	csr, cert := waitIssued(t, admin, name)
	if csr.Spec.Username != "system:node:skiff-sim" {
		t.Errorf("spec.username = %q", csr.Spec.Username)
	}
	i := slices.IndexFunc(csr.Status.Conditions, func(c certificatesv1.CertificateSigningRequestCondition) bool {
		return c.Type == certificatesv1.CertificateApproved
	})
	if i < 0 || csr.Status.Conditions[i].Reason != "AutoApproved" ||
		csr.Status.Conditions[i].Message != "Auto approving self kubelet client certificate after SubjectAccessReview." {
		t.Errorf("conditions = %+v, want AutoApproved", csr.Status.Conditions)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d < 364*24*time.Hour {
		t.Errorf("validity %v, want the default year", d)
	}
	u := whoAmI(t, csr.Status.Certificate, keyPEM)
	if u.Username != "system:node:skiff-sim" || !slices.Contains(u.Groups, "system:nodes") {
		t.Errorf("issued certificate authenticates as %+v", u)
	}
}

// TestKubectlCertificateApprove approves kube-apiserver-client requests with
// `kubectl certificate approve`: the certificate is issued for the requested
// duration and authenticates its subject; a malformed kubelet request is marked
// Failed instead.
func TestKubectlCertificateApprove(t *testing.T) {
	admin := srv.Client
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		ctx := ctxT(t)
		suffix := fmt.Sprint(time.Now().UnixNano())
		name := "jane-" + suffix
		req, keyPEM := newCSR(t, name, certificatesv1.KubeAPIServerClientSignerName, "jane", []string{"devs"},
			certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth)
		hour := int32(3600)
		req.Spec.ExpirationSeconds = &hour
		if _, err := admin.CertificatesV1().CertificateSigningRequests().Create(ctx, req, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteCSR(admin, name) })
		k.Run("certificate", "approve", name)
		csr, cert := waitIssued(t, admin, name)
		// One hour from signing, backdated by five minutes.
		if d := cert.NotAfter.Sub(cert.NotBefore); d < 64*time.Minute || d > 66*time.Minute {
			t.Errorf("validity %v, want 1h05m", d)
		}
		if u := whoAmI(t, csr.Status.Certificate, keyPEM); u.Username != "jane" || !slices.Contains(u.Groups, "devs") {
			t.Errorf("issued certificate authenticates as %+v", u)
		}
		out := k.Run("get", "csr", name)
		if !strings.Contains(out, "Approved,Issued") {
			t.Errorf("kubectl get csr:\n%s", out)
		}

		// A kubelet-client request that is not a node's: the signer marks it Failed.
		bad := "bad-" + suffix
		req, _ = newCSR(t, bad, certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:x", []string{"system:masters"},
			certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth)
		if _, err := admin.CertificatesV1().CertificateSigningRequests().Create(ctx, req, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteCSR(admin, bad) })
		k.Run("certificate", "approve", bad)
		eventually(t, csrTimeout, func() error {
			csr, err := admin.CertificatesV1().CertificateSigningRequests().Get(ctx, bad, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, c := range csr.Status.Conditions {
				if c.Type == certificatesv1.CertificateFailed {
					if c.Reason != "SignerValidationFailure" || c.Message != "subject organization is not system:nodes" || len(csr.Status.Certificate) != 0 {
						t.Errorf("failed condition %+v, certificate %d bytes", c, len(csr.Status.Certificate))
					}
					return nil
				}
			}
			return fmt.Errorf("no Failed condition yet: %+v", csr.Status.Conditions)
		})
		if out := k.Run("get", "csr", bad); !strings.Contains(out, "Approved,Failed") {
			t.Errorf("kubectl get csr:\n%s", out)
		}
	})
}
