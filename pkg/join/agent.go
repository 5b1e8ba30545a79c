package join

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/certificate/csr"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/pki"
)

// Files the join writes under Config.Dir (<data-dir>/agent).
const (
	KubeconfigFile = "kubelet.kubeconfig" // the node's client certificate and key, 0600
	ServerCAFile   = "server-ca.crt"      // the cluster CA (verifies the apiserver)
	ClientCAFile   = "client-ca.crt"      // the client CA (verifies the apiserver at the kubelet API)
)

// Defaults of Config's timeouts.
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultSignTimeout    = 2 * time.Minute
)

// renewWithin renews a client certificate that expires within this window (the
// signer's certificates last a year).
const renewWithin = 30 * 24 * time.Hour

// Config is what joining a server needs.
type Config struct {
	// Server is the apiserver's URL, https://HOST:PORT.
	Server string
	// Token is the join token.
	Token Token
	// Dir receives the files (KubeconfigFile, ServerCAFile, ClientCAFile).
	Dir string
	// NodeName is the node's name: its identity is system:node:<NodeName>.
	NodeName string
	// RequestTimeout bounds each request to the server, SignTimeout the wait for
	// the certificate to be approved and signed; the defaults when zero.
	RequestTimeout, SignTimeout time.Duration
}

// Result is where Join left the node's credentials.
type Result struct {
	// Kubeconfig authenticates as system:node:<name> with a client certificate.
	Kubeconfig string
	// ServerCA and ClientCA are the CA files (see ServerCAFile, ClientCAFile).
	ServerCA, ClientCA string
	// Renewed is true when a certificate was requested (not reused).
	Renewed bool
}

// Join gives the node a client certificate from the server at cfg.Server: it
// fetches the cluster CA from /cacerts and checks it against the token's CA hash
// before it sends any credential, then, authenticated by the token's bootstrap
// token, creates a CSR (signer kubernetes.io/kube-apiserver-client-kubelet, CN
// system:node:<name>, O system:nodes), waits for it to be approved and signed,
// and writes a kubeconfig with the certificate. A kubeconfig of an earlier join
// for the same server and node is reused while its certificate is valid; one
// that expires within 30 days is renewed with its own identity.
func Join(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.SignTimeout == 0 {
		cfg.SignTimeout = DefaultSignTimeout
	}
	if cfg.NodeName == "" {
		return nil, errors.New("join: the node name is empty")
	}
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--server: %q is not an https://HOST:PORT URL", cfg.Server)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	res := &Result{
		Kubeconfig: filepath.Join(cfg.Dir, KubeconfigFile),
		ServerCA:   filepath.Join(cfg.Dir, ServerCAFile),
		ClientCA:   filepath.Join(cfg.Dir, ClientCAFile),
	}
	log := klog.FromContext(ctx)

	// An earlier join: reuse it while good, renew it with its own identity near expiry.
	var renewWith *rest.Config
	if prev, cert, err := loadKubeconfig(res.Kubeconfig); err == nil && prev.Host == cfg.Server &&
		cert.Subject.CommonName == pki.NodeUserPrefix+cfg.NodeName && time.Now().Before(cert.NotAfter) {
		if time.Until(cert.NotAfter) > renewWithin && exists(res.ServerCA) && exists(res.ClientCA) {
			log.V(2).Info("Reusing the node's client certificate", "kubeconfig", res.Kubeconfig, "notAfter", cert.NotAfter)
			return res, nil
		}
		renewWith = prev
	}

	var caPEM []byte
	if renewWith != nil {
		caPEM = renewWith.TLSClientConfig.CAData
	} else {
		if caPEM, err = fetchCA(ctx, cfg); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("join: the CA bundle of %s holds no certificate", cfg.Server)
	}
	// From here on the server is verified against its CA.
	clientCA, err := get(ctx, verifiedClient(pool, cfg.RequestTimeout), cfg.Server+ClientCACertsPath)
	if err != nil {
		var uerr x509.UnknownAuthorityError
		var herr x509.HostnameError
		if errors.As(err, &uerr) || errors.As(err, &herr) {
			return nil, fmt.Errorf("join: the certificate of %s does not verify against its CA from /cacerts: %w", cfg.Server, err)
		}
		return nil, fmt.Errorf("join: %w", err)
	}
	if _, err := certutil.ParseCertsPEM(clientCA); err != nil {
		return nil, fmt.Errorf("join: the client CA of %s: %w", cfg.Server, err)
	}

	rc := renewWith
	if rc == nil {
		rc = &rest.Config{Host: cfg.Server, BearerToken: cfg.Token.BootstrapToken(),
			TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}}
	}
	rc = rest.CopyConfig(rc)
	rc.Timeout = cfg.RequestTimeout
	rc.UserAgent = "skiff/agent-join"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	key, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	certPEM, err := RequestCertificate(ctx, client, key, certificatesv1.KubeAPIServerClientKubeletSignerName,
		&x509.CertificateRequest{Subject: pkix.Name{CommonName: pki.NodeUserPrefix + cfg.NodeName, Organization: []string{pki.NodesGroup}}},
		[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}, cfg.SignTimeout)
	if err != nil {
		return nil, err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["default"] = &clientcmdapi.Cluster{Server: cfg.Server, CertificateAuthorityData: caPEM}
	kc.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	kc.CurrentContext = "default"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	if err := pki.WriteFileAtomic(res.ServerCA, caPEM, 0o644); err != nil {
		return nil, err
	}
	if err := pki.WriteFileAtomic(res.ClientCA, clientCA, 0o644); err != nil {
		return nil, err
	}
	if err := pki.WriteFileAtomic(res.Kubeconfig, data, 0o600); err != nil {
		return nil, err
	}
	res.Renewed = true
	log.Info("Node joined: client certificate issued", "node", cfg.NodeName, "server", cfg.Server, "kubeconfig", res.Kubeconfig)
	return res, nil
}

// fetchCA downloads the CA bundle from /cacerts without verifying the server
// (it has no CA yet), and checks it against the token's CA hash.
func fetchCA(ctx context.Context, cfg Config) ([]byte, error) {
	insecure := &http.Client{Timeout: cfg.RequestTimeout, Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // checked against the token's hash below
	}}
	defer insecure.CloseIdleConnections()
	caPEM, err := get(ctx, insecure, cfg.Server+CACertsPath)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if cfg.Token.CAHash == "" {
		klog.FromContext(ctx).Info("Warning: the join token has no CA hash (a short token); trusting the server's CA without checking it. Use the full token from <data-dir>/server/token", "server", cfg.Server)
		return caPEM, nil
	}
	if got := HashCA(caPEM); got != cfg.Token.CAHash {
		return nil, fmt.Errorf("join: the CA of %s (hash %s) does not match the join token's CA hash %s: the token is for another cluster, or the connection is intercepted", cfg.Server, got, cfg.Token.CAHash)
	}
	return caPEM, nil
}

// The paths the apiserver serves its CA bundles at, to anyone: CACertsPath the
// cluster CA (k3s' path; the token's CA hash is this file's), ClientCACertsPath
// the client CA, which the kubelet API checks the apiserver's certificate with.
const (
	CACertsPath       = "/cacerts"
	ClientCACertsPath = "/cacerts/client"
)

func verifiedClient(pool *x509.CertPool, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
}

// get fetches url, with errors that say whether the server could be reached.
func get(ctx context.Context, c *http.Client, u string) ([]byte, error) {
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() {
			return nil, fmt.Errorf("GET %s: the server did not answer in time: %w", u, err)
		}
		return nil, fmt.Errorf("GET %s: cannot reach the server: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s (is this a skiff server?)", u, resp.Status)
	}
	return body, nil
}

// RequestCertificate creates a CSR for key with tmpl's subject and names, waits
// up to timeout for it to be approved and signed, and returns the certificate's
// PEM. The errors say what the server refused.
func RequestCertificate(ctx context.Context, client kubernetes.Interface, key crypto.Signer, signer string, tmpl *x509.CertificateRequest, usages []certificatesv1.KeyUsage, timeout time.Duration) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	reqPEM := pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateRequestBlockType, Bytes: der})
	name, uid, err := csr.RequestCertificateWithContext(ctx, client, reqPEM, "", signer, nil, usages, key)
	switch {
	case apierrors.IsUnauthorized(err):
		return nil, fmt.Errorf("join: the server refused the credentials (401 Unauthorized): the join token is wrong, or was revoked: %w", err)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("join: the server does not let this identity request a %s certificate: %w", signer, err)
	case err != nil:
		return nil, fmt.Errorf("join: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cert, err := csr.WaitForCertificate(wctx, client, name, uid)
	if err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("join: certificate signing request %s was not approved and signed within %v (is the server's controller manager running? `kubectl certificate approve %s` approves it by hand)", name, timeout, name)
		}
		return nil, fmt.Errorf("join: certificate signing request %s: %w", name, err)
	}
	return cert, nil
}

// loadKubeconfig reads a kubeconfig with an embedded client certificate.
func loadKubeconfig(path string) (*rest.Config, *x509.Certificate, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, nil, err
	}
	certs, err := certutil.ParseCertsPEM(rc.TLSClientConfig.CertData)
	if err != nil {
		return nil, nil, err
	}
	if len(rc.TLSClientConfig.CAData) == 0 {
		return nil, nil, errors.New("no CA data")
	}
	return rc, certs[0], nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
