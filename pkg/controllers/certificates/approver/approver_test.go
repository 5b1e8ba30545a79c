package approver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/skiff-k8s/skiff/pkg/controllers/certificates"
)

func request(t *testing.T, cn string, orgs ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func csr(t *testing.T, user string, groups []string, cn string, orgs ...string) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    request(t, cn, orgs...),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			Username:   user,
			Groups:     groups,
		},
	}
}

// fakeAuthorizer answers SubjectAccessReviews: allowed holds the subresources
// each user may create.
func fakeAuthorizer(client *fake.Clientset, allowed map[string][]string, asked *[]string) {
	client.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		*asked = append(*asked, sar.Spec.User+":"+ra.Subresource)
		for _, sub := range allowed[sar.Spec.User] {
			if ra.Group == "certificates.k8s.io" && ra.Resource == "certificatesigningrequests" && ra.Verb == "create" && ra.Subresource == sub {
				sar.Status.Allowed = true
			}
		}
		return true, sar, nil
	})
}

func TestApproval(t *testing.T) {
	nodes := []string{"system:nodes", "system:authenticated"}
	cases := []struct {
		name       string
		csr        func(t *testing.T) *certificatesv1.CertificateSigningRequest
		allowed    map[string][]string
		wantAsked  []string
		wantResult string // "approved", "retry" or "ignored"
	}{
		{"node renews its own certificate",
			func(t *testing.T) *certificatesv1.CertificateSigningRequest {
				return csr(t, "system:node:n1", nodes, "system:node:n1", "system:nodes")
			},
			map[string][]string{"system:node:n1": {"selfnodeclient"}},
			[]string{"system:node:n1:selfnodeclient"}, "approved"},
		{"bootstrapper asks for a node certificate",
			func(t *testing.T) *certificatesv1.CertificateSigningRequest {
				return csr(t, "system:bootstrap:abc", []string{"system:bootstrappers"}, "system:node:n2", "system:nodes")
			},
			map[string][]string{"system:bootstrap:abc": {"nodeclient"}},
			[]string{"system:bootstrap:abc:nodeclient"}, "approved"},
		{"node without the permission",
			func(t *testing.T) *certificatesv1.CertificateSigningRequest {
				return csr(t, "system:node:n1", nodes, "system:node:n1", "system:nodes")
			},
			nil,
			[]string{"system:node:n1:selfnodeclient", "system:node:n1:nodeclient"}, "retry"},
		{"not a node client request (organization)",
			func(t *testing.T) *certificatesv1.CertificateSigningRequest {
				return csr(t, "system:node:n1", nodes, "system:node:n1", "system:masters")
			},
			map[string][]string{"system:node:n1": {"selfnodeclient", "nodeclient"}},
			nil, "ignored"},
		{"other signer",
			func(t *testing.T) *certificatesv1.CertificateSigningRequest {
				c := csr(t, "system:node:n1", nodes, "system:node:n1", "system:nodes")
				c.Spec.SignerName = certificatesv1.KubeAPIServerClientSignerName
				return c
			},
			map[string][]string{"system:node:n1": {"selfnodeclient", "nodeclient"}},
			nil, "ignored"},
		{"server auth usage",
			func(t *testing.T) *certificatesv1.CertificateSigningRequest {
				c := csr(t, "system:node:n1", nodes, "system:node:n1", "system:nodes")
				c.Spec.Usages = append(c.Spec.Usages, certificatesv1.UsageServerAuth)
				return c
			},
			map[string][]string{"system:node:n1": {"selfnodeclient", "nodeclient"}},
			nil, "ignored"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.csr(t)
			client := fake.NewClientset(c)
			var asked []string
			fakeAuthorizer(client, tc.allowed, &asked)
			a := &approver{client: client}
			err := a.handle(context.Background(), c.DeepCopy())
			got, _ := client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), c.Name, metav1.GetOptions{})
			approved, _ := certificates.ApprovalCondition(&got.Status)
			result := "ignored"
			switch {
			case approved:
				result = "approved"
				cond := got.Status.Conditions[0]
				if cond.Reason != "AutoApproved" || cond.Status != "True" {
					t.Errorf("condition = %+v", cond)
				}
			case err != nil:
				result = "retry"
			}
			if result != tc.wantResult {
				t.Errorf("result %s (err %v), want %s", result, err, tc.wantResult)
			}
			if len(asked) != len(tc.wantAsked) {
				t.Fatalf("asked %v, want %v", asked, tc.wantAsked)
			}
			for i := range asked {
				if asked[i] != tc.wantAsked[i] {
					t.Errorf("asked %v, want %v", asked, tc.wantAsked)
				}
			}
		})
	}
}

func servingCSR(t *testing.T, user string, groups []string, cn string, dns []string, ips ...string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: []string{"system:nodes"}}, DNSNames: dns}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "serving-1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeletServingSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
			Username:   user,
			Groups:     groups,
		},
	}
}

func TestServingApproval(t *testing.T) {
	nodes := []string{"system:nodes", "system:authenticated"}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "192.0.2.7"}, {Type: corev1.NodeHostName, Address: "Edge-1"}}}}
	cases := []struct {
		name   string
		csr    *certificatesv1.CertificateSigningRequest
		node   bool
		result string // "approved", "retry" or "ignored"
	}{
		{"own addresses", servingCSR(t, "system:node:n1", nodes, "system:node:n1", []string{"edge-1"}, "192.0.2.7"), true, "approved"},
		{"node not registered", servingCSR(t, "system:node:n1", nodes, "system:node:n1", nil, "192.0.2.7"), false, "retry"},
		{"foreign IP", servingCSR(t, "system:node:n1", nodes, "system:node:n1", nil, "192.0.2.8"), true, "retry"},
		{"foreign name", servingCSR(t, "system:node:n1", nodes, "system:node:n1", []string{"kubernetes.default"}), true, "retry"},
		{"another node's request", servingCSR(t, "system:node:n2", nodes, "system:node:n1", nil, "192.0.2.7"), true, "ignored"},
		{"not a node", servingCSR(t, "system:node:n1", []string{"system:authenticated"}, "system:node:n1", nil, "192.0.2.7"), true, "ignored"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.csr}
			if tc.node {
				objs = append(objs, node)
			}
			client := fake.NewClientset(objs...)
			a := &approver{client: client}
			err := a.handle(context.Background(), tc.csr.DeepCopy())
			got, _ := client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), tc.csr.Name, metav1.GetOptions{})
			approved := certificates.IsApproved(got)
			switch tc.result {
			case "approved":
				if err != nil || !approved {
					t.Errorf("err %v, approved %v; want approved", err, approved)
				}
			case "retry":
				if err == nil || approved {
					t.Errorf("err %v, approved %v; want an error to retry", err, approved)
				}
			case "ignored":
				if err != nil || approved {
					t.Errorf("err %v, approved %v; want it left alone", err, approved)
				}
			}
		})
	}
}
