// Package podcertificaterequest serves certificates.k8s.io/v1 PodCertificateRequests:
// kubelets ask a signer for a pod's certificate; the spec is fixed at creation and
// the signer answers through /status with a chain or a Denied or Failed condition.
package podcertificaterequest

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	certvalidation "github.com/skiff-k8s/skiff/pkg/registry/certificates/validation"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Upstream's bounds on spec.maxExpirationSeconds.
const (
	defaultMaxExpirationSeconds    = 86400
	minMaxExpirationSeconds        = 3600
	kubernetesMaxExpirationSeconds = 86400
	maxMaxExpirationSeconds        = 7862400
	maxUIDLength                   = 128
	maxStubRequestSize             = 100 * 1024
	maxCertificateChainSize        = 100 * 1024
)

// Resource is podcertificaterequests.
var Resource = &store.Resource{
	Name: "podcertificaterequests", Singular: "podcertificaterequest", Namespaced: true,
	New:     func() runtime.Object { return &certificatesv1.PodCertificateRequest{} },
	NewList: func() runtime.Object { return &certificatesv1.PodCertificateRequestList{} },
	Status:  true,
	Defaults: func(obj runtime.Object) {
		r := obj.(*certificatesv1.PodCertificateRequest)
		if r.Spec.MaxExpirationSeconds == nil {
			d := int32(defaultMaxExpirationSeconds)
			r.Spec.MaxExpirationSeconds = &d
		}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*certificatesv1.PodCertificateRequest))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		r, o := obj.(*certificatesv1.PodCertificateRequest), old.(*certificatesv1.PodCertificateRequest)
		if !equality.Semantic.DeepEqual(r.Spec, o.Spec) {
			return field.ErrorList{field.Invalid(field.NewPath("spec"), "<spec>", "field is immutable")}
		}
		return nil
	},
	ValidateStatus: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateStatus(obj.(*certificatesv1.PodCertificateRequest), old.(*certificatesv1.PodCertificateRequest))
	},
}

func idErrors(p *field.Path, v string) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Invalid(p, v, "must not be empty")}
	}
	if len(v) > maxUIDLength {
		return field.ErrorList{field.TooLong(p, v, maxUIDLength)}
	}
	return nil
}

func nameErrors(p *field.Path, v string, check func(string) []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range check(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

// Validate checks a new request as upstream does.
func Validate(r *certificatesv1.PodCertificateRequest) field.ErrorList {
	spec := field.NewPath("spec")
	errs := certvalidation.SignerName(spec.Child("signerName"), r.Spec.SignerName)
	if r.Spec.UnverifiedUserAnnotations != nil {
		p := spec.Child("unverifiedUserAnnotations")
		for k := range r.Spec.UnverifiedUserAnnotations {
			for _, msg := range validation.IsQualifiedName(k) {
				errs = append(errs, field.Invalid(p, k, msg))
			}
		}
	}
	errs = append(errs, nameErrors(spec.Child("podName"), r.Spec.PodName, validation.IsDNS1123Subdomain)...)
	errs = append(errs, idErrors(spec.Child("podUID"), string(r.Spec.PodUID))...)
	errs = append(errs, nameErrors(spec.Child("serviceAccountName"), r.Spec.ServiceAccountName, validation.IsDNS1123Subdomain)...)
	errs = append(errs, idErrors(spec.Child("serviceAccountUID"), string(r.Spec.ServiceAccountUID))...)
	errs = append(errs, nameErrors(spec.Child("nodeName"), string(r.Spec.NodeName), validation.IsDNS1123Subdomain)...)
	errs = append(errs, idErrors(spec.Child("nodeUID"), string(r.Spec.NodeUID))...)

	p := spec.Child("maxExpirationSeconds")
	if r.Spec.MaxExpirationSeconds == nil {
		return append(errs, field.Required(p, "must be set"))
	}
	hi := int32(maxMaxExpirationSeconds)
	if certvalidation.IsKubernetesSigner(r.Spec.SignerName) {
		hi = kubernetesMaxExpirationSeconds
	}
	if e := *r.Spec.MaxExpirationSeconds; e < minMaxExpirationSeconds || e > hi {
		errs = append(errs, field.Invalid(p, e, fmt.Sprintf("must be in the range [%d, %d]", minMaxExpirationSeconds, hi)))
	}
	return append(errs, validateStubRequest(spec.Child("stubPKCS10Request"), r.Spec.StubPKCS10Request)...)
}

// validateStubRequest checks the DER PKCS#10 request: a valid self-signature by a key
// of a supported type.
func validateStubRequest(p *field.Path, der []byte) field.ErrorList {
	if len(der) > maxStubRequestSize {
		return field.ErrorList{field.TooLong(p, "", maxStubRequestSize)}
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, fmt.Sprintf("must be a valid PKCS#10 certificate signing request: %v", err))}
	}
	if err := csr.CheckSignature(); err != nil {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "could not verify the certificate signing request signature")}
	}
	switch pub := csr.PublicKey.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() && pub.Curve != elliptic.P384() && pub.Curve != elliptic.P521() {
			return field.ErrorList{field.Invalid(p, "curve "+pub.Curve.Params().Name, "elliptic public keys must use curve P256, P384 or P521")}
		}
	case *rsa.PublicKey:
		if bits := pub.Size() * 8; bits != 3072 && bits != 4096 {
			return field.ErrorList{field.Invalid(p, fmt.Sprintf("%d-bit modulus", bits), "RSA keys must have modulus size 3072 or 4096")}
		}
	default:
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "unknown public key type; supported types are Ed25519, ECDSA, and RSA")}
	}
	return nil
}

var terminal = []string{certificatesv1.PodCertificateRequestConditionTypeIssued,
	certificatesv1.PodCertificateRequestConditionTypeDenied, certificatesv1.PodCertificateRequestConditionTypeFailed}

func state(r *certificatesv1.PodCertificateRequest) string {
	for _, c := range r.Status.Conditions {
		for _, t := range terminal {
			if c.Type == t && c.Status == metav1.ConditionTrue {
				return t
			}
		}
	}
	return ""
}

// ValidateStatus checks a status update: at most one terminal condition, after which
// the status never changes; an issued chain must parse and match its times.
func ValidateStatus(r, old *certificatesv1.PodCertificateRequest) field.ErrorList {
	var errs field.ErrorList
	cp := field.NewPath("status", "conditions")
	known := 0
	for i, c := range r.Status.Conditions {
		switch c.Type {
		case terminal[0], terminal[1], terminal[2]:
			known++
			if known > 1 {
				errs = append(errs, field.Invalid(cp.Index(i).Child("type"), c.Type, `There may be at most one condition with type "Issued", "Denied", or "Failed"`))
			}
			if c.Status != metav1.ConditionTrue {
				errs = append(errs, field.NotSupported(cp.Index(i).Child("status"), c.Status, []metav1.ConditionStatus{metav1.ConditionTrue}))
			}
		default:
			errs = append(errs, field.NotSupported(cp.Index(i).Child("type"), c.Type, terminal))
		}
	}
	errs = append(errs, metav1validation.ValidateConditions(r.Status.Conditions, cp)...)
	if len(errs) > 0 {
		return errs
	}
	sp := field.NewPath("status")
	if state(old) != "" {
		if !equality.Semantic.DeepEqual(r.Status, old.Status) {
			errs = append(errs, field.Invalid(sp, "<status>", "immutable after PodCertificateRequest is issued, denied, or failed"))
		}
		return errs
	}
	switch state(r) {
	case "":
		if !equality.Semantic.DeepEqual(r.Status, certificatesv1.PodCertificateRequestStatus{Conditions: r.Status.Conditions}) {
			errs = append(errs, field.Invalid(sp, "<status>", "only conditions may be set before the PodCertificateRequest is issued"))
		}
	case certificatesv1.PodCertificateRequestConditionTypeDenied, certificatesv1.PodCertificateRequestConditionTypeFailed:
		if !equality.Semantic.DeepEqual(r.Status, certificatesv1.PodCertificateRequestStatus{Conditions: r.Status.Conditions}) {
			errs = append(errs, field.Invalid(sp, "<status>", "non-condition status fields must be empty when denying or failing the PodCertificateRequest"))
		}
	case certificatesv1.PodCertificateRequestConditionTypeIssued:
		errs = append(errs, validateIssued(r)...)
	}
	return errs
}

func validateIssued(r *certificatesv1.PodCertificateRequest) field.ErrorList {
	chainPath := field.NewPath("status", "certificateChain")
	if len(r.Status.CertificateChain) > maxCertificateChainSize {
		return field.ErrorList{field.TooLong(chainPath, "", maxCertificateChainSize)}
	}
	block, _ := pem.Decode([]byte(r.Status.CertificateChain))
	if block == nil {
		return field.ErrorList{field.Invalid(chainPath, field.OmitValueType{}, "issued certificate chain must contain at least one certificate")}
	}
	if err := certvalidation.Certificates([]byte(r.Status.CertificateChain)); err != nil {
		return field.ErrorList{field.Invalid(chainPath, field.OmitValueType{}, err.Error())}
	}
	leaf, _ := x509.ParseCertificate(block.Bytes)
	var errs field.ErrorList
	check := func(name string, t *metav1.Time, want time.Time) {
		p := field.NewPath("status", name)
		switch {
		case t == nil:
			errs = append(errs, field.Required(p, "must be present and consistent with the issued certificate"))
		case !want.IsZero() && !t.Time.Equal(want):
			errs = append(errs, field.Invalid(p, t.Time.String(), "must be set to the "+name+" time encoded in the leaf certificate"))
		}
	}
	check("notBefore", r.Status.NotBefore, leaf.NotBefore)
	check("notAfter", r.Status.NotAfter, leaf.NotAfter)
	check("beginRefreshAt", r.Status.BeginRefreshAt, time.Time{})
	if len(errs) > 0 {
		return errs
	}
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
	if max := time.Duration(*r.Spec.MaxExpirationSeconds) * time.Second; lifetime > max {
		errs = append(errs, field.Invalid(chainPath, lifetime.String(), fmt.Sprintf("leaf certificate lifetime must not be longer than spec.maxExpirationSeconds (%v)", max)))
	}
	if lifetime < minMaxExpirationSeconds*time.Second {
		errs = append(errs, field.Invalid(chainPath, lifetime.String(), "leaf certificate lifetime must be at least 1 hour"))
	}
	if b := r.Status.BeginRefreshAt.Time; b.Before(leaf.NotBefore) || b.After(leaf.NotAfter) {
		errs = append(errs, field.Invalid(field.NewPath("status", "beginRefreshAt"), b.String(), "must be between notBefore and notAfter"))
	}
	return errs
}
