// Package certificatesigningrequest serves certificates.k8s.io/v1
// CertificateSigningRequests: the requesting user is recorded on create, the spec never
// changes, signers write status.certificate through /status, and approvers add
// Approved or Denied conditions through /approval.
package certificatesigningrequest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/skiff-k8s/skiff/pkg/registry/certificates/validation"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is certificatesigningrequests.
var Resource = &store.Resource{
	Name: "certificatesigningrequests", Singular: "certificatesigningrequest", ShortNames: []string{"csr"},
	New:     func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
	NewList: func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
	// Upstream does not care what a request is called (beyond being a path segment).
	ValidateName: store.PathSegment,
	Status:       true,
	PrepareForCreate: func(ctx context.Context, obj runtime.Object) {
		csr := obj.(*certificatesv1.CertificateSigningRequest)
		csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
		if u, ok := genericapirequest.UserFrom(ctx); ok {
			csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups = u.GetName(), u.GetUID(), u.GetGroups()
			for k, v := range u.GetExtra() {
				if csr.Spec.Extra == nil {
					csr.Spec.Extra = map[string]certificatesv1.ExtraValue{}
				}
				csr.Spec.Extra[k] = v
			}
		}
	},
	PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
		obj.(*certificatesv1.CertificateSigningRequest).Spec = old.(*certificatesv1.CertificateSigningRequest).Spec
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*certificatesv1.CertificateSigningRequest), nil, options{})
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest), options{})
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		store.AgeColumn,
		{Name: "SignerName", Type: "string", Description: certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["signerName"]},
		{Name: "Requestor", Type: "string", Description: certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["request"]},
		{Name: "RequestedDuration", Type: "string", Description: certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["expirationSeconds"]},
		{Name: "Condition", Type: "string", Description: certificatesv1.CertificateSigningRequestStatus{}.SwaggerDoc()["conditions"]},
	},
	Row: func(obj runtime.Object) []any {
		csr := obj.(*certificatesv1.CertificateSigningRequest)
		signer, requested := "<none>", "<none>"
		if csr.Spec.SignerName != "" {
			signer = csr.Spec.SignerName
		}
		if csr.Spec.ExpirationSeconds != nil {
			requested = duration.HumanDuration(time.Duration(*csr.Spec.ExpirationSeconds) * time.Second)
		}
		return []any{csr.Name, store.Age(csr.CreationTimestamp), signer, csr.Spec.Username, requested, Condition(csr)}
	},
}

func init() {
	Resource.Subresources = subresources
}

// Condition is the CONDITION cell: Denied, Approved or Pending, then Failed and Issued.
func Condition(csr *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	s := "Pending"
	if denied {
		s = "Denied"
	} else if approved {
		s = "Approved"
	}
	if failed {
		s += ",Failed"
	}
	if len(csr.Status.Certificate) > 0 {
		s += ",Issued"
	}
	return s
}

// options say what an update path may change.
type options struct {
	approval    bool // /approval may add Approved and Denied conditions
	certificate bool // /status may set status.certificate
}

var validUsages = sets.New[string](
	"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
	"data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
	"server auth", "client auth", "code signing", "email protection", "s/mime",
	"ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
	"microsoft sgc", "netscape sgc")

// trueOnly are the condition types whose status must be True.
var trueOnly = sets.New(certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed)

// parseRequest checks that the request is a PEM CERTIFICATE REQUEST with a valid signature.
func parseRequest(data []byte) error {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	return csr.CheckSignature()
}

// Validate checks a request; old is the stored object on update (some problems
// already stored are tolerated, as upstream does).
func Validate(csr, old *certificatesv1.CertificateSigningRequest, _ options) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if err := parseRequest(csr.Spec.Request); err != nil {
		errs = append(errs, field.Invalid(spec.Child("request"), csr.Spec.Request, err.Error()))
	}
	if len(csr.Spec.Usages) == 0 {
		errs = append(errs, field.Required(spec.Child("usages"), ""))
	}
	seen := map[certificatesv1.KeyUsage]bool{}
	for i, u := range csr.Spec.Usages {
		if !validUsages.Has(string(u)) {
			errs = append(errs, field.NotSupported(spec.Child("usages").Index(i), u, sets.List(validUsages)))
		}
		if seen[u] {
			errs = append(errs, field.Duplicate(spec.Child("usages").Index(i), u))
		}
		seen[u] = true
	}
	if csr.Spec.SignerName == "kubernetes.io/legacy-unknown" {
		errs = append(errs, field.Invalid(spec.Child("signerName"), csr.Spec.SignerName, "the legacy signerName is not allowed via this API version"))
	} else {
		errs = append(errs, validation.SignerName(spec.Child("signerName"), csr.Spec.SignerName)...)
	}
	if e := csr.Spec.ExpirationSeconds; e != nil && *e < 600 {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), *e, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	errs = append(errs, validateConditions(csr)...)
	if old == nil || string(old.Status.Certificate) != string(csr.Status.Certificate) {
		if err := validation.Certificates(csr.Status.Certificate); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("status", "certificate"), "<certificate data>", err.Error()))
		}
	}
	return errs
}

func validateConditions(csr *certificatesv1.CertificateSigningRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("status", "conditions")
	seen := map[certificatesv1.RequestConditionType]bool{}
	for i, c := range csr.Status.Conditions {
		if c.Type == "" {
			errs = append(errs, field.Required(p.Index(i).Child("type"), ""))
		}
		allowed := []string{string(corev1.ConditionFalse), string(corev1.ConditionTrue), string(corev1.ConditionUnknown)}
		if trueOnly.Has(c.Type) {
			allowed = []string{string(corev1.ConditionTrue)}
		}
		switch {
		case c.Status == "":
			errs = append(errs, field.Required(p.Index(i).Child("status"), ""))
		case !sets.New(allowed...).Has(string(c.Status)):
			errs = append(errs, field.NotSupported(p.Index(i).Child("status"), c.Status, allowed))
		}
		if (c.Type == certificatesv1.CertificateApproved && seen[certificatesv1.CertificateDenied]) ||
			(c.Type == certificatesv1.CertificateDenied && seen[certificatesv1.CertificateApproved]) {
			errs = append(errs, field.Invalid(p, c.Type, "Approved and Denied conditions are mutually exclusive"))
		}
		if seen[c.Type] {
			errs = append(errs, field.Duplicate(p.Index(i).Child("type"), c.Type))
		}
		seen[c.Type] = true
	}
	return errs
}

func conditionsOf(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []certificatesv1.CertificateSigningRequestCondition {
	var out []certificatesv1.CertificateSigningRequestCondition
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, c)
		}
	}
	return out
}

// ValidateUpdate checks an update through the main resource, /status or /approval.
func ValidateUpdate(csr, old *certificatesv1.CertificateSigningRequest, opts options) field.ErrorList {
	errs := Validate(csr, old, opts)
	p := field.NewPath("status", "conditions")
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed} {
		if len(conditionsOf(csr, t)) < len(conditionsOf(old, t)) {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	if !opts.approval {
		for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied} {
			n, o := conditionsOf(csr, t), conditionsOf(old, t)
			switch {
			case len(n) < len(o):
			case len(n) > len(o):
				errs = append(errs, field.Forbidden(p, fmt.Sprintf("updates may not add a condition of type %q", t)))
			case !equality.Semantic.DeepEqual(n, o):
				errs = append(errs, field.Forbidden(p, fmt.Sprintf("updates may not modify a condition of type %q", t)))
			}
		}
	}
	if string(csr.Status.Certificate) != string(old.Status.Certificate) {
		if !opts.certificate {
			errs = append(errs, field.Forbidden(field.NewPath("status", "certificate"), "updates may not set certificate content"))
		} else if len(old.Status.Certificate) > 0 {
			errs = append(errs, field.Forbidden(field.NewPath("status", "certificate"), "updates may not modify existing certificate content"))
		}
	}
	return errs
}

// populateConditionTimestamps fills unset condition times: now, or for a condition whose
// status did not change, its previous transition time.
func populateConditionTimestamps(csr, old *certificatesv1.CertificateSigningRequest) {
	now := metav1.Now()
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		if old != nil {
			for _, oc := range old.Status.Conditions {
				if oc.Type == c.Type && oc.Status == c.Status && !oc.LastTransitionTime.IsZero() {
					c.LastTransitionTime = oc.LastTransitionTime
					break
				}
			}
		}
	}
}

// preserveConditions keeps the stored conditions of type t when their number did not
// change, so /status cannot alter an approval (adding or removing one fails validation).
func preserveConditions(csr, old *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) {
	o := conditionsOf(old, t)
	if len(o) != len(conditionsOf(csr, t)) {
		return
	}
	j := 0
	for i := range csr.Status.Conditions {
		if csr.Status.Conditions[i].Type == t {
			csr.Status.Conditions[i] = o[j]
			j++
		}
	}
}
