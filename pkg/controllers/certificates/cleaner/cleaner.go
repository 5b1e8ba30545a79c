// Package cleaner is the csrcleaner controller: once an hour it deletes the
// CertificateSigningRequests nobody needs any more, as upstream's cleaner does:
// issued ones an hour after approval, denied and failed ones an hour after that
// decision, pending ones after a day, and any whose certificate has expired.
package cleaner

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Name is the controller's name in the manager.
const Name = "csrcleaner"

const (
	pollingInterval    = time.Hour
	approvedExpiration = time.Hour
	deniedExpiration   = time.Hour
	pendingExpiration  = 24 * time.Hour
)

type cleaner struct {
	client kubernetes.Interface
	lister certificateslisters.CertificateSigningRequestLister
	now    func() time.Time
}

// Start registers the CSR informer and launches the hourly sweep.
func Start(ctx context.Context, c *controllers.Context) error {
	inf := c.Informers.Certificates().V1().CertificateSigningRequests()
	cl := &cleaner{client: c.Client, lister: inf.Lister(), now: time.Now}
	synced := inf.Informer().HasSynced
	c.Go(func() {
		if !controllers.WaitForCacheSync(ctx, Name, synced) {
			return
		}
		wait.UntilWithContext(ctx, cl.sweep, pollingInterval)
	})
	return nil
}

func (cl *cleaner) sweep(ctx context.Context) {
	logger := klog.FromContext(ctx)
	csrs, err := cl.lister.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Unable to list CSRs")
		return
	}
	for _, csr := range csrs {
		reason, err := cl.expired(csr)
		if err != nil {
			logger.Error(err, "Unable to check CSR", "csr", csr.Name)
			continue
		}
		if reason == "" {
			continue
		}
		logger.Info("Cleaning CSR", "csr", csr.Name, "reason", reason)
		err = cl.client.CertificatesV1().CertificateSigningRequests().Delete(ctx, csr.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			logger.Error(err, "Unable to delete CSR", "csr", csr.Name)
		}
	}
}

// expired says why csr should go, or "" when it should stay.
func (cl *cleaner) expired(csr *certificatesv1.CertificateSigningRequest) (string, error) {
	issued := len(csr.Status.Certificate) > 0
	for _, c := range csr.Status.Conditions {
		switch {
		case c.Type == certificatesv1.CertificateApproved && issued && cl.olderThan(c.LastUpdateTime, approvedExpiration):
			return "approved and issued more than an hour ago", nil
		case c.Type == certificatesv1.CertificateDenied && cl.olderThan(c.LastUpdateTime, deniedExpiration):
			return "denied more than an hour ago", nil
		case c.Type == certificatesv1.CertificateFailed && cl.olderThan(c.LastUpdateTime, deniedExpiration):
			return "failed more than an hour ago", nil
		}
	}
	if len(csr.Status.Conditions) == 0 && cl.olderThan(csr.CreationTimestamp, pendingExpiration) {
		return "pending for more than a day", nil
	}
	if issued {
		block, _ := pem.Decode(csr.Status.Certificate)
		if block == nil {
			return "", errors.New("expected the certificate associated with the CSR to be PEM encoded")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", err
		}
		if cl.now().After(cert.NotAfter) {
			return "its certificate has expired", nil
		}
	}
	return "", nil
}

// olderThan is true for a set time more than d before now.
func (cl *cleaner) olderThan(t metav1.Time, d time.Duration) bool {
	return !t.IsZero() && cl.now().Sub(t.Time) > d
}
