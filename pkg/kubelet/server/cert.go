package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/skiff-k8s/skiff/pkg/pki"
)

// EnsureServingCert makes certFile/keyFile a kubelet serving certificate for nodeName,
// its DNS names and IPs, signed by the CA in caCertFile/caKeyFile (the cluster CA, which
// the apiserver trusts for kubelets). An existing certificate is kept while it is
// signed by that CA, covers the names and has more than 30 days left. The subject is
// upstream's: CN system:node:<nodeName>, O system:nodes.
func EnsureServingCert(caCertFile, caKeyFile, certFile, keyFile, nodeName string, dns []string, ips []net.IP) error {
	ca, err := pki.LoadCA(caCertFile, caKeyFile)
	if err != nil {
		return fmt.Errorf("kubelet serving certificate: %w", err)
	}
	dns = append([]string{nodeName}, dns...)
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		if c, err := x509.ParseCertificate(pair.Certificate[0]); err == nil && covers(c, ca.Cert, dns, ips) {
			return nil
		}
	}
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	cert, err := ca.Issue(pki.Leaf{
		CommonName: "system:node:" + nodeName, Organization: []string{pki.NodesGroup},
		DNS: dns, IPs: ips, Usage: x509.ExtKeyUsageServerAuth,
	}, key.Public())
	if err != nil {
		return fmt.Errorf("kubelet serving certificate: %w", err)
	}
	return pki.WriteCertKey(certFile, keyFile, cert, key)
}

func covers(c, ca *x509.Certificate, dns []string, ips []net.IP) bool {
	if c.CheckSignatureFrom(ca) != nil || time.Until(c.NotAfter) < 30*24*time.Hour {
		return false
	}
	for _, d := range dns {
		if !slices.Contains(c.DNSNames, d) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}
