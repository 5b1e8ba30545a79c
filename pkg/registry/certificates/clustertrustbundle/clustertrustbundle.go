// Package clustertrustbundle serves certificates.k8s.io/v1 ClusterTrustBundles: PEM
// bundles of CA certificates, named after their signer when they have one.
package clustertrustbundle

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/certificates/validation"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// maxTrustBundleSize is upstream's limit on spec.trustBundle.
const maxTrustBundleSize = 1 * 1024 * 1024

// Resource is clustertrustbundles.
var Resource = &store.Resource{
	Name: "clustertrustbundles", Singular: "clustertrustbundle",
	New:     func() runtime.Object { return &certificatesv1.ClusterTrustBundle{} },
	NewList: func() runtime.Object { return &certificatesv1.ClusterTrustBundleList{} },
	// The name depends on the signer; Validate checks it.
	ValidateName: store.PathSegment,
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*certificatesv1.ClusterTrustBundle), true)
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		b, o := obj.(*certificatesv1.ClusterTrustBundle), old.(*certificatesv1.ClusterTrustBundle)
		// An unchanged bundle is not parsed again, so parser changes never block updates.
		errs := Validate(b, b.Spec.TrustBundle != o.Spec.TrustBundle)
		if b.Spec.SignerName != o.Spec.SignerName {
			errs = append(errs, field.Invalid(field.NewPath("spec", "signerName"), b.Spec.SignerName, "field is immutable"))
		}
		return errs
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "SignerName", Type: "string", Description: certificatesv1.ClusterTrustBundleSpec{}.SwaggerDoc()["signerName"]}},
	Row: func(obj runtime.Object) []any {
		b := obj.(*certificatesv1.ClusterTrustBundle)
		signer := b.Spec.SignerName
		if signer == "" {
			signer = "<none>"
		}
		return []any{b.Name, signer}
	},
}

// Validate checks the name against the signer, the signer name and, when parse is
// set, the bundle.
func Validate(b *certificatesv1.ClusterTrustBundle, parse bool) field.ErrorList {
	var errs field.ErrorList
	namePath := field.NewPath("metadata", "name")
	if b.Spec.SignerName == "" {
		if strings.Contains(b.Name, ":") {
			errs = append(errs, field.Invalid(namePath, b.Name, `ClusterTrustBundle without signer name must not have ":" in its name`))
		}
	} else {
		prefix := strings.ReplaceAll(b.Spec.SignerName, "/", ":") + ":"
		if !strings.HasPrefix(b.Name, prefix) {
			errs = append(errs, field.Invalid(namePath, b.Name, fmt.Sprintf("ClusterTrustBundle for signerName %s must be named with prefix %s", b.Spec.SignerName, prefix)))
		}
		errs = append(errs, validation.SignerName(field.NewPath("spec", "signerName"), b.Spec.SignerName)...)
	}
	if parse {
		errs = append(errs, validateBundle(field.NewPath("spec", "trustBundle"), b.Spec.TrustBundle)...)
	}
	return errs
}

// validateBundle accepts only header-free CERTIFICATE blocks of CA certificates, at
// least one, none twice.
func validateBundle(p *field.Path, in string) field.ErrorList {
	if len(in) > maxTrustBundleSize {
		return field.ErrorList{field.TooLong(p, "", maxTrustBundleSize)}
	}
	var errs field.ErrorList
	seen := map[string][]int{}
	var order []string
	rest := []byte(in)
	for i := 0; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type != "CERTIFICATE":
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf("entry %d has bad block type: %v", i, b.Type)))
			continue
		case len(b.Headers) != 0:
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf("entry %d has PEM block headers", i)))
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf("entry %d does not parse as X.509", i)))
			continue
		case !cert.IsCA:
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf("entry %d does not have the CA bit set", i)))
			continue
		case !cert.BasicConstraintsValid:
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf("entry %d has invalid basic constraints", i)))
			continue
		}
		if _, ok := seen[string(b.Bytes)]; !ok {
			order = append(order, string(b.Bytes))
		}
		seen[string(b.Bytes)] = append(seen[string(b.Bytes)], i)
	}
	if len(errs) > 0 {
		return errs
	}
	if len(seen) == 0 {
		errs = append(errs, field.Invalid(p, "<value omitted>", "at least one trust anchor must be provided"))
	}
	for _, k := range order {
		if idx := seen[k]; len(idx) > 1 {
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf("duplicate trust anchor (indices %v)", idx)))
		}
	}
	return errs
}
