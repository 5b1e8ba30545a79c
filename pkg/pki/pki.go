// Package pki creates and reuses the cluster's certificates and keys.
//
// On first start it writes, under <data-dir>/server/tls, a cluster CA (signing the
// apiserver's serving certificate), a client CA (signing client certificates such as the
// admin's), the serving certificate, the admin client certificate (O=system:masters) and
// the service-account signing key. Later starts reuse them; the serving certificate is
// re-issued when the set of names it must cover has changed. Keys are written 0600.
//
//	b, err := pki.Ensure("/var/lib/skiff/server/tls", pki.Names{DNS: []string{"kubernetes"}})
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore re-issues a leaf certificate that expires within this window.
	renewBefore = 90 * 24 * time.Hour
)

// ProxyClientName is the common name of the front-proxy client certificate, the one
// name aggregated API servers accept request headers from.
const ProxyClientName = "system:auth-proxy"

// Names are the subject alternative names the serving certificate must cover.
type Names struct {
	DNS []string
	IPs []net.IP
}

// Bundle is the set of files Ensure produced; every field is a path.
type Bundle struct {
	Dir                 string
	ServerCA, ServerKey string // cluster CA: signs serving certificates
	ClientCA, ClientKey string // client CA: signs client certificates
	ServingCert         string
	ServingKey          string
	AdminCert, AdminKey string
	// KubeletClientCert authenticates the apiserver to kubelets (logs, exec, …).
	KubeletClientCert, KubeletClientKey string
	// RequestHeaderCA signs the front-proxy client certificate the aggregator presents
	// to aggregated API servers, which then trust its X-Remote-User headers.
	RequestHeaderCA, RequestHeaderKey string
	ProxyClientCert, ProxyClientKey   string
	ServiceAccountKey                 string // private key that signs service-account tokens
	// Client certificates of the components that run inside `skiff server` and talk to
	// the apiserver as ordinary clients, each under its upstream user name.
	ControllerManagerCert, ControllerManagerKey string // system:kube-controller-manager
	SchedulerCert, SchedulerKey                 string // system:kube-scheduler
	SimNodeCert, SimNodeKey                     string // system:node:skiff-sim, group system:nodes
}

// Upstream's user names of the control-plane components.
const (
	ControllerManagerUser = "system:kube-controller-manager"
	SchedulerUser         = "system:kube-scheduler"
	SimNodeUser           = "system:node:skiff-sim"
	NodesGroup            = "system:nodes"
)

// CA is a loaded certificate authority that can issue leaf certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Ensure creates whatever is missing under dir and returns the paths.
func Ensure(dir string, names Names) (*Bundle, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create tls dir: %w", err)
	}
	b := &Bundle{
		Dir:      dir,
		ServerCA: filepath.Join(dir, "server-ca.crt"), ServerKey: filepath.Join(dir, "server-ca.key"),
		ClientCA: filepath.Join(dir, "client-ca.crt"), ClientKey: filepath.Join(dir, "client-ca.key"),
		ServingCert: filepath.Join(dir, "serving-kube-apiserver.crt"), ServingKey: filepath.Join(dir, "serving-kube-apiserver.key"),
		AdminCert: filepath.Join(dir, "client-admin.crt"), AdminKey: filepath.Join(dir, "client-admin.key"),
		KubeletClientCert: filepath.Join(dir, "client-kube-apiserver.crt"), KubeletClientKey: filepath.Join(dir, "client-kube-apiserver.key"),
		RequestHeaderCA: filepath.Join(dir, "request-header-ca.crt"), RequestHeaderKey: filepath.Join(dir, "request-header-ca.key"),
		ProxyClientCert: filepath.Join(dir, "client-auth-proxy.crt"), ProxyClientKey: filepath.Join(dir, "client-auth-proxy.key"),
		ServiceAccountKey:     filepath.Join(dir, "service.key"),
		ControllerManagerCert: filepath.Join(dir, "client-controller.crt"), ControllerManagerKey: filepath.Join(dir, "client-controller.key"),
		SchedulerCert: filepath.Join(dir, "client-scheduler.crt"), SchedulerKey: filepath.Join(dir, "client-scheduler.key"),
		SimNodeCert: filepath.Join(dir, "client-sim-node.crt"), SimNodeKey: filepath.Join(dir, "client-sim-node.key"),
	}
	serverCA, err := ensureCA(b.ServerCA, b.ServerKey, "skiff-server-ca")
	if err != nil {
		return nil, err
	}
	clientCA, err := ensureCA(b.ClientCA, b.ClientKey, "skiff-client-ca")
	if err != nil {
		return nil, err
	}
	serving := Leaf{CommonName: "kube-apiserver", DNS: names.DNS, IPs: names.IPs, Usage: x509.ExtKeyUsageServerAuth}
	if err := serverCA.ensureLeaf(b.ServingCert, b.ServingKey, serving); err != nil {
		return nil, err
	}
	admin := Leaf{CommonName: "system:admin", Organization: []string{"system:masters"}, Usage: x509.ExtKeyUsageClientAuth}
	if err := clientCA.ensureLeaf(b.AdminCert, b.AdminKey, admin); err != nil {
		return nil, err
	}
	kubeletClient := Leaf{CommonName: "system:kube-apiserver", Organization: []string{"system:masters"}, Usage: x509.ExtKeyUsageClientAuth}
	if err := clientCA.ensureLeaf(b.KubeletClientCert, b.KubeletClientKey, kubeletClient); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		cert, key string
		leaf      Leaf
	}{
		{b.ControllerManagerCert, b.ControllerManagerKey, Leaf{CommonName: ControllerManagerUser, Usage: x509.ExtKeyUsageClientAuth}},
		{b.SchedulerCert, b.SchedulerKey, Leaf{CommonName: SchedulerUser, Usage: x509.ExtKeyUsageClientAuth}},
		{b.SimNodeCert, b.SimNodeKey, Leaf{CommonName: SimNodeUser, Organization: []string{NodesGroup}, Usage: x509.ExtKeyUsageClientAuth}},
	} {
		if err := clientCA.ensureLeaf(c.cert, c.key, c.leaf); err != nil {
			return nil, err
		}
	}
	requestHeaderCA, err := ensureCA(b.RequestHeaderCA, b.RequestHeaderKey, "skiff-request-header-ca")
	if err != nil {
		return nil, err
	}
	proxy := Leaf{CommonName: ProxyClientName, Usage: x509.ExtKeyUsageClientAuth}
	if err := requestHeaderCA.ensureLeaf(b.ProxyClientCert, b.ProxyClientKey, proxy); err != nil {
		return nil, err
	}
	if _, err := os.Stat(b.ServiceAccountKey); errors.Is(err, os.ErrNotExist) {
		key, err := newKey()
		if err != nil {
			return nil, err
		}
		if err := writeKey(b.ServiceAccountKey, key); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return b, nil
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CommonName   string
	Organization []string
	DNS          []string
	IPs          []net.IP
	Usage        x509.ExtKeyUsage
}

// LoadCA reads a CA certificate and key from disk.
func LoadCA(certFile, keyFile string) (*CA, error) {
	cert, err := readCert(certFile)
	if err != nil {
		return nil, err
	}
	key, err := ReadKey(keyFile)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue signs a new leaf certificate for key.
func (ca *CA) Issue(l Leaf, pub crypto.PublicKey) (*x509.Certificate, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: l.CommonName, Organization: l.Organization},
		DNSNames:     l.DNS,
		IPAddresses:  l.IPs,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{l.Usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %q: %w", l.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func ensureCA(certFile, keyFile, cn string) (*CA, error) {
	if exists(certFile) && exists(keyFile) {
		return LoadCA(certFile, keyFile)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", cn, now.Unix())},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writeKey(keyFile, key); err != nil {
		return nil, err
	}
	if err := writeCert(certFile, cert); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// ensureLeaf keeps an existing certificate that was signed by ca, covers every wanted
// name and is not close to expiry; otherwise it issues a new one.
func (ca *CA) ensureLeaf(certFile, keyFile string, l Leaf) error {
	if cert, err := readCert(certFile); err == nil && exists(keyFile) && ca.stillGood(cert, l) {
		return nil
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	cert, err := ca.Issue(l, key.Public())
	if err != nil {
		return err
	}
	if err := writeKey(keyFile, key); err != nil {
		return err
	}
	return writeCert(certFile, cert)
}

func (ca *CA) stillGood(cert *x509.Certificate, l Leaf) bool {
	if cert.CheckSignatureFrom(ca.Cert) != nil || time.Until(cert.NotAfter) < renewBefore {
		return false
	}
	if cert.Subject.CommonName != l.CommonName || !slices.Equal(cert.Subject.Organization, l.Organization) {
		return false
	}
	for _, d := range l.DNS {
		if !slices.Contains(cert.DNSNames, d) {
			return false
		}
	}
	for _, ip := range l.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// WriteCertKey writes a certificate (0644) and its key (0600) as PEM.
func WriteCertKey(certFile, keyFile string, cert *x509.Certificate, key crypto.Signer) error {
	if err := writeKey(keyFile, key); err != nil {
		return err
	}
	return writeCert(certFile, cert)
}

// NewKey returns a fresh ECDSA P-256 key: quick to make, and accepted everywhere
// Kubernetes takes a key (TLS, service-account JWTs).
func NewKey() (crypto.Signer, error) { return newKey() }

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	return WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func writeCert(path string, cert *x509.Certificate) error {
	return WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

// EncodeCert returns the PEM form of a certificate.
func EncodeCert(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

// ReadKey reads a PEM private key (PKCS#8, EC or PKCS#1).
func ReadKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM key", path)
	}
	var key any
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key cannot sign", path)
	}
	return signer, nil
}

// WriteFileAtomic writes data to a temporary file in the same directory and renames it
// into place, so a crash never leaves a half-written key or certificate.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return os.Chmod(path, mode)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// NodeUserPrefix starts a node's user name: system:node:<node name>.
const NodeUserPrefix = "system:node:"

// EnsureNodeClient issues, or keeps when still good, the client certificate
// of the server's own node agent: CN system:node:<nodeName>, O system:nodes,
// the identity upstream's kubelet has. It returns the certificate and key
// files (client-kubelet.crt/.key in the bundle's dir).
func (b *Bundle) EnsureNodeClient(nodeName string) (certFile, keyFile string, err error) {
	ca, err := LoadCA(b.ClientCA, b.ClientKey)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(b.Dir, "client-kubelet.crt"), filepath.Join(b.Dir, "client-kubelet.key")
	leaf := Leaf{CommonName: NodeUserPrefix + nodeName, Organization: []string{NodesGroup}, Usage: x509.ExtKeyUsageClientAuth}
	if err := ca.ensureLeaf(certFile, keyFile, leaf); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}
