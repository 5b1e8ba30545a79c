package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/keyutil"

	"github.com/skiff-k8s/skiff/pkg/join"
	"github.com/skiff-k8s/skiff/pkg/pki"
	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// serverToken reads the join token the server wrote and checks its file and form.
func serverToken(t *testing.T, s *framework.Server) join.Token {
	t.Helper()
	path := filepath.Join(s.DataDir, "server", "token")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	tok, err := join.ParseToken(string(data))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(s.DataDir, "server", "tls", "server-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "K10"+join.HashCA(caPEM)+"::server:") || tok.CAHash != join.HashCA(caPEM) {
		t.Fatalf("token %q does not start with K10<sha256 of server-ca.crt>::server:", tok.CAHash)
	}
	return tok
}

func serverURL(s *framework.Server) string { return fmt.Sprintf("https://127.0.0.1:%d", s.Port) }

// TestJoinClientCertificate joins as a node with the server's token: the client
// certificate comes through a CSR the bootstrap token creates and csrapproving
// approves; a second join reuses it.
func TestJoinClientCertificate(t *testing.T) {
	tok := serverToken(t, srv)
	ctx := context.Background()

	// The bootstrap token's Secret, as kubeadm's.
	id := tok.BootstrapToken()[:6]
	sec, err := srv.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != "bootstrap.kubernetes.io/token" || string(sec.Data["usage-bootstrap-authentication"]) != "true" {
		t.Errorf("bootstrap secret: type %q data keys %v", sec.Type, sec.Data)
	}

	// The bootstrap token alone authenticates as system:bootstrap:<id>.
	rc := *srv.Config
	rc.TLSClientConfig = *srv.Config.TLSClientConfig.DeepCopy()
	rc.CertData, rc.KeyData, rc.CertFile, rc.KeyFile = nil, nil, "", ""
	rc.BearerToken = tok.BootstrapToken()
	bc := kubernetes.NewForConfigOrDie(&rc)
	var who *authenticationv1.SelfSubjectReview
	eventually(t, 30*time.Second, func() error {
		who, err = bc.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return err
	})
	if u := who.Status.UserInfo; u.Username != "system:bootstrap:"+id || !slices.Contains(u.Groups, "system:bootstrappers") ||
		!slices.Contains(u.Groups, join.NodeGroup) {
		t.Errorf("bootstrap token user %q groups %v", u.Username, u.Groups)
	}

	node := "join-it-" + rand.String(5)
	dir := t.TempDir()
	res, err := join.Join(ctx, join.Config{Server: serverURL(srv), Token: tok, Dir: dir, NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Renewed {
		t.Error("first join did not request a certificate")
	}
	if st, err := os.Stat(res.Kubeconfig); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig %s: %v (mode %v), want 0600", res.Kubeconfig, err, st.Mode().Perm())
	}
	nc := nodeClient(t, res.Kubeconfig)
	who, err = nc.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := who.Status.UserInfo; u.Username != "system:node:"+node || !slices.Contains(u.Groups, "system:nodes") {
		t.Errorf("joined node is %q in %v", u.Username, u.Groups)
	}
	// The CSR the join made was approved automatically.
	csrs, err := srv.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range csrs.Items {
		if c.Spec.Username == "system:bootstrap:"+id && c.Spec.SignerName == "kubernetes.io/kube-apiserver-client-kubelet" {
			for _, cond := range c.Status.Conditions {
				found = found || (cond.Type == "Approved" && cond.Reason == "AutoApproved")
			}
		}
	}
	if !found {
		t.Error("no auto-approved kube-apiserver-client-kubelet CSR from the bootstrap token")
	}
	// The client CA the kubelet API checks the apiserver with.
	clientCA, _ := os.ReadFile(res.ClientCA)
	wantCA, _ := os.ReadFile(filepath.Join(srv.DataDir, "server", "tls", "client-ca.crt"))
	if string(clientCA) != string(wantCA) {
		t.Error("client-ca.crt differs from the server's client CA")
	}

	again, err := join.Join(ctx, join.Config{Server: serverURL(srv), Token: tok, Dir: dir, NodeName: node})
	if err != nil || again.Renewed {
		t.Errorf("second join: renewed %v, err %v; want the certificate reused", again != nil && again.Renewed, err)
	}

	// Near expiry, a restart renews the certificate with the node's own identity.
	nearExpiry(t, res.Kubeconfig, node)
	renewed, err := join.Join(ctx, join.Config{Server: serverURL(srv), Token: tok, Dir: dir, NodeName: node})
	if err != nil || !renewed.Renewed {
		t.Fatalf("join near expiry: %+v, %v; want a renewed certificate", renewed, err)
	}
	_, cert := kubeconfigCert(t, res.Kubeconfig)
	if time.Until(cert.NotAfter) < 300*24*time.Hour {
		t.Errorf("renewed certificate expires %v", cert.NotAfter)
	}
	csrs, err = srv.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found = false
	for _, c := range csrs.Items {
		found = found || (c.Spec.Username == "system:node:"+node && c.Spec.SignerName == "kubernetes.io/kube-apiserver-client-kubelet" && len(c.Status.Certificate) > 0)
	}
	if !found {
		t.Error("the renewal's CSR was not made by the node itself, or not issued")
	}
	nc = nodeClient(t, res.Kubeconfig)

	// Serving certificate: approved for the node's own addresses once it is registered.
	ip := net.ParseIP("192.0.2.77")
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}, Spec: corev1.NodeSpec{Unschedulable: true}}
	if _, err := nc.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}) })
	eventually(t, 30*time.Second, func() error {
		cur, err := nc.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}, {Type: corev1.NodeHostName, Address: node}}
		_, err = nc.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	serving := join.Serving{CertFile: filepath.Join(dir, "serving.crt"), KeyFile: filepath.Join(dir, "serving.key"),
		CAFile: res.ServerCA, NodeName: node, IPs: []net.IP{ip}, DNS: []string{node}}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := join.EnsureServingCert(sctx, nc, serving); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(serving.CertFile, serving.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(pair.Certificate[0])
	caPEM, _ := os.ReadFile(res.ServerCA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: ip.String(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("serving certificate does not verify for %s against the server CA: %v", ip, err)
	}

	// An address the node does not have is never approved.
	foreign := serving
	foreign.CertFile, foreign.KeyFile = filepath.Join(dir, "foreign.crt"), filepath.Join(dir, "foreign.key")
	foreign.IPs, foreign.SignTimeout = []net.IP{net.ParseIP("192.0.2.78")}, 3*time.Second
	fctx, fcancel := context.WithTimeout(ctx, 8*time.Second)
	defer fcancel()
	if err := join.EnsureServingCert(fctx, nc, foreign); err == nil {
		t.Error("a serving certificate for a foreign IP was issued")
	}
}

func nodeClient(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(rc)
}

// TestJoinRefusals: a token of another cluster, a wrong password and an
// unreachable server each fail quickly with an error that says so.
func TestJoinRefusals(t *testing.T) {
	tok := serverToken(t, srv)
	ctx := context.Background()
	dead := fmt.Sprintf("https://127.0.0.1:%d", framework.FreePort(t))
	wrongHash := tok
	wrongHash.CAHash = strings.Repeat("0", 64)
	wrongPassword := tok
	wrongPassword.Password = "abcdef.0123456789abcdef"
	for _, tc := range []struct {
		name, server string
		tok          join.Token
		want         string
	}{
		{"CA hash of another cluster", serverURL(srv), wrongHash, "does not match the join token's CA hash"},
		{"wrong password", serverURL(srv), wrongPassword, "401 Unauthorized"},
		{"unreachable server", dead, tok, "cannot reach the server"},
		{"not https", "http://127.0.0.1:1", tok, "is not an https://HOST:PORT URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := join.Join(ctx, join.Config{Server: tc.server, Token: tc.tok, Dir: t.TempDir(), NodeName: "refused", SignTimeout: 5 * time.Second})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %v to fail", d)
			}
			t.Logf("%v", err)
		})
	}

	// The command says the same, and exits.
	cmd := exec.Command(srv.Bin, "agent", "--server", serverURL(srv), "--token", wrongHash.String(), "--data-dir", t.TempDir(), "--node-name", "refused")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("skiff agent with a wrong token still runs after 30s: %s", out)
	}
	if err == nil || !strings.Contains(string(out), "does not match the join token's CA hash") {
		t.Errorf("skiff agent with a token of another cluster: %v\n%s", err, out)
	}
}

func kubeconfigCert(t *testing.T, path string) (*clientcmdapi.Config, *x509.Certificate) {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(kc.AuthInfos["default"].ClientCertificateData)
	if block == nil {
		t.Fatal("no client certificate in the kubeconfig")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return kc, cert
}

// nearExpiry replaces the kubeconfig's client certificate by one of the same
// node, signed by the server's client CA, that expires in a day.
func nearExpiry(t *testing.T, path, node string) {
	t.Helper()
	kc, _ := kubeconfigCert(t, path)
	tlsDir := filepath.Join(srv.DataDir, "server", "tls")
	ca, err := pki.LoadCA(filepath.Join(tlsDir, "client-ca.crt"), filepath.Join(tlsDir, "client-ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:   pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := keyutil.MarshalPrivateKeyToPEM(key)
	kc.AuthInfos["default"].ClientCertificateData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kc.AuthInfos["default"].ClientKeyData = keyPEM
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
}
