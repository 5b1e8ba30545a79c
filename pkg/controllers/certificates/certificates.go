// Package certificates holds what the CertificateSigningRequest controllers share,
// as upstream's pkg/controller/certificates does: a controller that hands each CSR
// without a certificate to a handler, the approval-condition tests, and the
// parsing and checking of kubelet client requests. The controllers are in
// approver (csrapproving), signer (csrsigning) and cleaner (csrcleaner).
package certificates

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Handler acts on one CSR (a copy it may change) that has no certificate yet.
type Handler func(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error

// Run drives handler over every CSR that has no certificate, on a queue named name,
// until ctx is done. It registers its handlers on the shared CSR informer, so it
// must be called from a controller's Start (the returned func runs the workers).
func Run(c *controllers.Context, name string, handler Handler) func(ctx context.Context) {
	inf := c.Informers.Certificates().V1().CertificateSigningRequests()
	lister := inf.Lister()
	informer := inf.Informer()
	q := controllers.NewQueue(name)
	enqueue := func(obj interface{}) { controllers.Enqueue(q, obj) }
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur interface{}) { enqueue(cur) },
		DeleteFunc: enqueue,
	})
	sync := func(ctx context.Context, key string) error {
		return syncCSR(ctx, lister, key, handler)
	}
	return func(ctx context.Context) {
		controllers.RunWorkers(ctx, name, q, 5, sync, informer.HasSynced)
	}
}

func syncCSR(ctx context.Context, lister certificateslisters.CertificateSigningRequestLister, key string, handler Handler) error {
	csr, err := lister.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(csr.Status.Certificate) > 0 {
		// Issued: nothing left to do.
		return nil
	}
	// A copy: the handler writes its conditions into it, never into the cache.
	return handler(ctx, csr.DeepCopy())
}

// ApprovalCondition reports whether csr has been approved and whether denied.
func ApprovalCondition(status *certificatesv1.CertificateSigningRequestStatus) (approved, denied bool) {
	for _, c := range status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		}
	}
	return approved, denied
}

// IsApproved reports whether csr is approved and not denied.
func IsApproved(csr *certificatesv1.CertificateSigningRequest) bool {
	approved, denied := ApprovalCondition(&csr.Status)
	return approved && !denied
}

// HasTrueCondition reports whether csr has a condition of type t with status True
// (an empty status counts as True, as in objects written before status existed).
func HasTrueCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == t && (c.Status == "" || c.Status == corev1.ConditionTrue) {
			return true
		}
	}
	return false
}

// ParseCSR decodes the PEM CERTIFICATE REQUEST of a CSR's spec.request.
func ParseCSR(pemBytes []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

// UsageSet is the set of a CSR's usages.
func UsageSet(usages []certificatesv1.KeyUsage) sets.Set[string] {
	s := sets.New[string]()
	for _, u := range usages {
		s.Insert(string(u))
	}
	return s
}

var (
	kubeletClientUsages = sets.New(string(certificatesv1.UsageDigitalSignature),
		string(certificatesv1.UsageKeyEncipherment), string(certificatesv1.UsageClientAuth))
	kubeletClientUsagesNoRSA = sets.New(string(certificatesv1.UsageDigitalSignature),
		string(certificatesv1.UsageClientAuth))
)

// ValidateKubeletClientCSR checks that req is a node's client certificate request
// as upstream defines one: organization exactly system:nodes, common name
// system:node:<name>, no subject alternative names, and usages digital signature
// and client auth (with key encipherment for RSA keys). Its messages are upstream's.
func ValidateKubeletClientCSR(req *x509.CertificateRequest, usages sets.Set[string]) error {
	if !slices.Equal(req.Subject.Organization, []string{"system:nodes"}) {
		return errors.New("subject organization is not system:nodes")
	}
	switch {
	case len(req.DNSNames) > 0:
		return errors.New("DNS subjectAltNames are not allowed")
	case len(req.EmailAddresses) > 0:
		return errors.New("Email subjectAltNames are not allowed")
	case len(req.IPAddresses) > 0:
		return errors.New("IP subjectAltNames are not allowed")
	case len(req.URIs) > 0:
		return errors.New("URI subjectAltNames are not allowed")
	}
	if !strings.HasPrefix(req.Subject.CommonName, "system:node:") {
		return errors.New("subject common name does not begin with system:node:")
	}
	if !kubeletClientUsages.Equal(usages) && !kubeletClientUsagesNoRSA.Equal(usages) {
		return fmt.Errorf("usages did not match %v", sets.List(kubeletClientUsages))
	}
	return nil
}

var (
	kubeletServingUsages = sets.New(string(certificatesv1.UsageDigitalSignature),
		string(certificatesv1.UsageKeyEncipherment), string(certificatesv1.UsageServerAuth))
	kubeletServingUsagesNoRSA = sets.New(string(certificatesv1.UsageDigitalSignature),
		string(certificatesv1.UsageServerAuth))
)

// ValidateKubeletServingCSR checks that req is a kubelet's serving certificate
// request as upstream defines one (signer kubernetes.io/kubelet-serving):
// organization exactly system:nodes, common name system:node:<name>, at least one
// DNS or IP subject alternative name and no others, and usages digital signature
// and server auth (with key encipherment for RSA keys). Its messages are upstream's.
func ValidateKubeletServingCSR(req *x509.CertificateRequest, usages sets.Set[string]) error {
	if !slices.Equal(req.Subject.Organization, []string{"system:nodes"}) {
		return errors.New("subject organization is not system:nodes")
	}
	switch {
	case len(req.EmailAddresses) > 0:
		return errors.New("Email subjectAltNames are not allowed")
	case len(req.URIs) > 0:
		return errors.New("URI subjectAltNames are not allowed")
	case len(req.DNSNames) == 0 && len(req.IPAddresses) == 0:
		return errors.New("DNS or IP subjectAltName is required")
	}
	if !strings.HasPrefix(req.Subject.CommonName, "system:node:") {
		return errors.New("subject common name does not begin with system:node:")
	}
	if !kubeletServingUsages.Equal(usages) && !kubeletServingUsagesNoRSA.Equal(usages) {
		return fmt.Errorf("usages did not match %v", sets.List(kubeletServingUsages))
	}
	return nil
}
