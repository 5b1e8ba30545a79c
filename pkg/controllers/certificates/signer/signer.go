// Package signer is the csrsigning controller: it issues the certificates of
// approved requests for the signers kubernetes.io/kube-apiserver-client-kubelet and
// kubernetes.io/kube-apiserver-client with the cluster signing CA (the client CA the
// apiserver trusts), and for kubernetes.io/kubelet-serving with the kubelet serving
// CA (the CA the apiserver verifies kubelets with, upstream's
// --cluster-signing-kubelet-serving-cert-file), as upstream's local-disk signer does. A request its signer
// refuses gets the Failed condition (SignerValidationFailure). The legacy
// kubernetes.io/legacy-unknown signer and non-kubernetes.io signers are not served.
package signer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/pkg/controllers"
	"github.com/skiff-k8s/skiff/pkg/controllers/certificates"
)

// Name is the controller's name in the manager.
const Name = "csrsigning"

// DefaultDuration is upstream's --cluster-signing-duration default: one year.
const DefaultDuration = 365 * 24 * time.Hour

// validators check a request against what its signer issues; a signer absent here
// is not ours.
var validators = map[string]func(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error{
	certificatesv1.KubeAPIServerClientKubeletSignerName: func(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
		return certificates.ValidateKubeletClientCSR(req, certificates.UsageSet(usages))
	},
	certificatesv1.KubeAPIServerClientSignerName: validAPIServerClientUsages,
	certificatesv1.KubeletServingSignerName: func(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
		return certificates.ValidateKubeletServingCSR(req, certificates.UsageSet(usages))
	},
}

type signer struct {
	client kubernetes.Interface
	ca     *authority
	// servingCA signs kubernetes.io/kubelet-serving: the CA the apiserver
	// verifies kubelets with.
	servingCA *authority
	duration  time.Duration
	now       func() time.Time
}

// Start checks the signing CA can be read, registers the controller on the CSR
// informer and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	ca := &authority{certFile: c.ClusterSigningCert, keyFile: c.ClusterSigningKey}
	if _, err := ca.load(); err != nil {
		return err
	}
	servingCA := ca
	if c.KubeletServingSigningCert != "" {
		servingCA = &authority{certFile: c.KubeletServingSigningCert, keyFile: c.KubeletServingSigningKey}
		if _, err := servingCA.load(); err != nil {
			return err
		}
	}
	s := &signer{client: c.Client, ca: ca, servingCA: servingCA, duration: DefaultDuration, now: time.Now}
	run := certificates.Run(c, Name, s.handle)
	c.Go(func() { run(ctx) })
	return nil
}

func (s *signer) handle(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	// Unapproved or failed requests are not signed.
	if !certificates.IsApproved(csr) || certificates.HasTrueCondition(csr, certificatesv1.CertificateFailed) {
		return nil
	}
	validate, ok := validators[csr.Spec.SignerName]
	if !ok {
		return nil
	}
	req, err := certificates.ParseCSR(csr.Spec.Request)
	if err != nil {
		return fmt.Errorf("unable to parse csr %q: %w", csr.Name, err)
	}
	if err := validate(req, csr.Spec.Usages); err != nil {
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type:           certificatesv1.CertificateFailed,
			Status:         corev1.ConditionTrue,
			Reason:         "SignerValidationFailure",
			Message:        err.Error(),
			LastUpdateTime: metav1.Now(),
		})
		if _, err := s.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("error adding failure condition for csr: %w", err)
		}
		return nil
	}
	ca := s.ca
	if csr.Spec.SignerName == certificatesv1.KubeletServingSignerName {
		ca = s.servingCA
	}
	cert, err := ca.sign(req, csr.Spec.Usages, s.ttl(csr.Spec.ExpirationSeconds), s.now())
	if err != nil {
		return fmt.Errorf("error auto signing csr: %w", err)
	}
	csr.Status.Certificate = cert
	if _, err := s.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("error updating signature for csr: %w", err)
	}
	return nil
}

// minDuration is the shortest certificate issued: twice the backdate, so that a
// backdated certificate is still valid for a while.
const minDuration = 10 * time.Minute

// ttl honours spec.expirationSeconds between minDuration and the signer's duration.
func (s *signer) ttl(expirationSeconds *int32) time.Duration {
	if expirationSeconds == nil {
		return s.duration
	}
	d := time.Duration(*expirationSeconds) * time.Second
	switch {
	case d > s.duration:
		return s.duration
	case d < minDuration:
		return minDuration
	}
	return d
}

// validAPIServerClientUsages allows client auth with optional digital signature
// and key encipherment, as upstream's kube-apiserver-client signer.
func validAPIServerClientUsages(_ *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	hasClientAuth := false
	for _, u := range usages {
		switch u {
		case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment:
		case certificatesv1.UsageClientAuth:
			hasClientAuth = true
		default:
			return fmt.Errorf("invalid usage for client certificate: %s", u)
		}
	}
	if !hasClientAuth {
		return errors.New("missing required usage for client certificate: " + string(certificatesv1.UsageClientAuth))
	}
	return nil
}
