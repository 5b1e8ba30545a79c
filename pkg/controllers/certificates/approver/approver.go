// Package approver is the csrapproving controller: it approves the client
// certificate requests of nodes (signer kubernetes.io/kube-apiserver-client-kubelet,
// a well-formed node client request) when a SubjectAccessReview allows the
// requester to create certificatesigningrequests/selfnodeclient (a node renewing its
// own certificate) or certificatesigningrequests/nodeclient (a bootstrapping node),
// as upstream's SAR approver does. Other requests are left for a human
// (`kubectl certificate approve`).
//
// Unlike upstream, which leaves kubelet serving certificates to a human or an
// external approver, it also approves a kubelet's serving request (signer
// kubernetes.io/kubelet-serving) made by a node for itself — requester
// system:node:<name> in system:nodes, the request's common name — whose IP and
// DNS names are all addresses of that Node (InternalIP/ExternalIP, Hostname/
// InternalDNS/ExternalDNS). These are the addresses the apiserver connects to for
// logs and exec, and the node is already trusted to publish them, so the
// certificate vouches for nothing the node could not already claim; it lets
// nodes that joined with `skiff agent --token` serve the kubelet API without a
// manual step. A request for a Node not registered yet, or for names it does
// not have, is retried with backoff.
package approver

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/pkg/controllers"
	"github.com/skiff-k8s/skiff/pkg/controllers/certificates"
)

// Name is the controller's name in the manager.
const Name = "csrapproving"

// recognizer is one kind of request the approver knows, the permission its
// requester needs, and the message of the approval.
type recognizer struct {
	recognize  func(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) bool
	permission authorizationv1.ResourceAttributes
	message    string
}

var recognizers = []recognizer{
	{
		recognize:  isSelfNodeClientCert,
		permission: authorizationv1.ResourceAttributes{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Verb: "create", Subresource: "selfnodeclient"},
		message:    "Auto approving self kubelet client certificate after SubjectAccessReview.",
	},
	{
		recognize:  isNodeClientCert,
		permission: authorizationv1.ResourceAttributes{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Verb: "create", Subresource: "nodeclient"},
		message:    "Auto approving kubelet client certificate after SubjectAccessReview.",
	},
}

type approver struct {
	client kubernetes.Interface
}

// Start registers the controller on the CSR informer and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	a := &approver{client: c.Client}
	run := certificates.Run(c, Name, a.handle)
	c.Go(func() { run(ctx) })
	return nil
}

// notApproved is returned for a request the approver recognized but whose
// requester may not have it approved: it is retried with backoff, since a role
// binding may yet be granted.
type notApproved struct {
	name  string
	tried []string
}

func (e notApproved) Error() string {
	return fmt.Sprintf("recognized csr %q as %v but subject access review was not approved", e.name, e.tried)
}

func (a *approver) handle(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	if approved, denied := certificates.ApprovalCondition(&csr.Status); approved || denied {
		return nil
	}
	req, err := certificates.ParseCSR(csr.Spec.Request)
	if err != nil {
		return fmt.Errorf("unable to parse csr %q: %w", csr.Name, err)
	}
	if csr.Spec.SignerName == certificatesv1.KubeletServingSignerName {
		return a.handleServing(ctx, csr, req)
	}
	var tried []string
	for _, r := range recognizers {
		if !r.recognize(csr, req) {
			continue
		}
		tried = append(tried, r.permission.Subresource)
		allowed, err := a.authorize(ctx, csr, r.permission)
		if err != nil {
			return err
		}
		if !allowed {
			continue
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type:    certificatesv1.CertificateApproved,
			Status:  corev1.ConditionTrue,
			Reason:  "AutoApproved",
			Message: r.message,
		})
		if _, err := a.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("error updating approval for csr: %w", err)
		}
		return nil
	}
	if len(tried) > 0 {
		return notApproved{name: csr.Name, tried: tried}
	}
	return nil
}

// authorize asks the apiserver whether the CSR's requester holds the permission.
func (a *approver) authorize(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, attrs authorizationv1.ResourceAttributes) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(csr.Spec.Extra))
	for k, v := range csr.Spec.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               csr.Spec.Username,
		UID:                csr.Spec.UID,
		Groups:             csr.Spec.Groups,
		Extra:              extra,
		ResourceAttributes: &attrs,
	}}
	sar, err := a.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return sar.Status.Allowed, nil
}

func isNodeClientCert(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) bool {
	return csr.Spec.SignerName == certificatesv1.KubeAPIServerClientKubeletSignerName &&
		certificates.ValidateKubeletClientCSR(req, certificates.UsageSet(csr.Spec.Usages)) == nil
}

// isSelfNodeClientCert is a node client request made by the node it names.
func isSelfNodeClientCert(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) bool {
	return csr.Spec.Username == req.Subject.CommonName && isNodeClientCert(csr, req)
}

// handleServing approves a node's serving certificate request for its own
// addresses (see the package comment); requests from others are left alone.
func (a *approver) handleServing(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) error {
	if certificates.ValidateKubeletServingCSR(req, certificates.UsageSet(csr.Spec.Usages)) != nil ||
		csr.Spec.Username != req.Subject.CommonName || !slices.Contains(csr.Spec.Groups, nodesGroup) {
		return nil
	}
	nodeName := strings.TrimPrefix(req.Subject.CommonName, nodeUserPrefix)
	node, err := a.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("csr %q: node %q is not registered yet", csr.Name, nodeName)
	}
	if err != nil {
		return err
	}
	var ips, names []string
	for _, addr := range node.Status.Addresses {
		switch addr.Type {
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			if ip := net.ParseIP(addr.Address); ip != nil {
				ips = append(ips, ip.String())
			}
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			names = append(names, strings.ToLower(addr.Address))
		}
	}
	for _, ip := range req.IPAddresses {
		if !slices.Contains(ips, ip.String()) {
			return fmt.Errorf("csr %q: IP address %s is not an address of node %q", csr.Name, ip, nodeName)
		}
	}
	for _, dns := range req.DNSNames {
		if !slices.Contains(names, strings.ToLower(dns)) {
			return fmt.Errorf("csr %q: DNS name %q is not an address of node %q", csr.Name, dns, nodeName)
		}
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:    certificatesv1.CertificateApproved,
		Status:  corev1.ConditionTrue,
		Reason:  "AutoApproved",
		Message: "Auto approving kubelet serving certificate: the node requests it for its own addresses.",
	})
	if _, err := a.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("error updating approval for csr: %w", err)
	}
	return nil
}

const (
	nodesGroup     = "system:nodes"
	nodeUserPrefix = "system:node:"
)
