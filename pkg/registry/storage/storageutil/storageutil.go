// Package storageutil holds the validation the storage.k8s.io resources share: CSI
// driver and provisioner names, and opaque parameter maps.
package storageutil

import (
	"strings"

	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	maxParametersLength = 256 * 1024
	maxParameters       = 512
	// CSINodeIDMaxLength is the longest node ID a CSI driver may report.
	CSINodeIDMaxLength     = 192
	csiDriverNameMaxLength = 63
)

// ValidateProvisioner checks a StorageClass provisioner: required, a qualified name.
func ValidateProvisioner(provisioner string, p *field.Path) field.ErrorList {
	if provisioner == "" {
		return field.ErrorList{field.Required(p, provisioner)}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(strings.ToLower(provisioner)) {
		errs = append(errs, field.Invalid(p, provisioner, msg))
	}
	return errs
}

// ValidateParameters checks the size of an opaque parameter map, and that no key is empty.
func ValidateParameters(params map[string]string, limitCount bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if limitCount && len(params) > maxParameters {
		errs = append(errs, field.TooMany(p, len(params), maxParameters))
	}
	size := 0
	for k, v := range params {
		if k == "" {
			errs = append(errs, field.Invalid(p, params, "field can not have empty parameter names"))
		}
		size += len(k) + len(v)
	}
	if size > maxParametersLength {
		errs = append(errs, field.TooLong(p, "", maxParametersLength))
	}
	return errs
}

// ValidateCSIDriverName checks a CSI driver name: at most 63 characters, a DNS subdomain
// once lower-cased.
func ValidateCSIDriverName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if len(name) > csiDriverNameMaxLength {
		errs = append(errs, field.TooLong(p, name, csiDriverNameMaxLength))
	}
	for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(name)) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

// CSIDriverName is a store.NameFunc for objects named after a CSI driver.
func CSIDriverName(name string, prefix bool) []string {
	var msgs []string
	for _, e := range ValidateCSIDriverName(name, field.NewPath("name")) {
		msgs = append(msgs, e.Detail)
	}
	return msgs
}

// ValidateLabelName checks a label key.
func ValidateLabelName(key string, p *field.Path) field.ErrorList {
	return metavalidation.ValidateLabelName(key, p)
}
