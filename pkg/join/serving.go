package join

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/pki"
)

// Serving is a kubelet's serving certificate to obtain through a CSR.
type Serving struct {
	// CertFile and KeyFile receive the certificate and its key (0600).
	CertFile, KeyFile string
	// CAFile is the CA that signs it (the cluster CA, ServerCAFile): a
	// certificate at CertFile it did not sign is replaced.
	CAFile string
	// NodeName names the certificate, system:node:<NodeName>.
	NodeName string
	// IPs and DNS are its subject alternative names: the node's addresses.
	IPs []net.IP
	DNS []string
	// SignTimeout bounds each wait for a signature (DefaultSignTimeout when zero).
	SignTimeout time.Duration
}

// EnsureServingCert keeps the certificate at s.CertFile while it is signed by
// s.CAFile, covers s's names and is not near expiry; otherwise it requests one
// as the node (client), signer kubernetes.io/kubelet-serving, and retries with
// backoff until it is issued or ctx is done. skiff's csrapproving approves a
// node's request for its own addresses once the Node is registered.
func EnsureServingCert(ctx context.Context, client kubernetes.Interface, s Serving) error {
	if s.SignTimeout == 0 {
		s.SignTimeout = DefaultSignTimeout
	}
	if servingCertGood(s) {
		return nil
	}
	log := klog.FromContext(ctx)
	tmpl := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: pki.NodeUserPrefix + s.NodeName, Organization: []string{pki.NodesGroup}},
		DNSNames:    s.DNS,
		IPAddresses: s.IPs,
	}
	usages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	backoff := wait.Backoff{Duration: 2 * time.Second, Factor: 2, Jitter: 0.1, Steps: 100, Cap: time.Minute}
	for {
		key, err := pki.NewKey()
		if err != nil {
			return err
		}
		certPEM, err := RequestCertificate(ctx, client, key, certificatesv1.KubeletServingSignerName, tmpl, usages, s.SignTimeout)
		if err == nil {
			certs, err := certutil.ParseCertsPEM(certPEM)
			if err != nil {
				return fmt.Errorf("kubelet serving certificate: %w", err)
			}
			if err := pki.WriteCertKey(s.CertFile, s.KeyFile, certs[0], key); err != nil {
				return err
			}
			log.Info("Kubelet serving certificate issued", "node", s.NodeName, "ips", s.IPs, "dns", s.DNS, "notAfter", certs[0].NotAfter)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Error(err, "Kubelet serving certificate not issued yet; retrying", "node", s.NodeName)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff.Step()):
		}
	}
}

func servingCertGood(s Serving) bool {
	pair, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Until(cert.NotAfter) < renewWithin {
		return false
	}
	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return false
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return false
	}
	for _, ip := range s.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	for _, d := range s.DNS {
		if !slices.Contains(cert.DNSNames, d) {
			return false
		}
	}
	return true
}
