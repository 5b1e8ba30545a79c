package resourceclaim

import (
	"strings"

	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultSpec fills the allocation mode (ExactCount), count (1) and toleration operators
// (Equal) of every request, as upstream v1 does. ResourceClaimTemplates share it.
func DefaultSpec(s *resourcev1.ResourceClaimSpec) {
	for i := range s.Devices.Requests {
		r := &s.Devices.Requests[i]
		if e := r.Exactly; e != nil {
			defaultMode(&e.AllocationMode, &e.Count)
			defaultTolerations(e.Tolerations)
		}
		for j := range r.FirstAvailable {
			sub := &r.FirstAvailable[j]
			defaultMode(&sub.AllocationMode, &sub.Count)
			defaultTolerations(sub.Tolerations)
		}
	}
}

func defaultMode(mode *resourcev1.DeviceAllocationMode, count *int64) {
	if *mode == "" {
		*mode = resourcev1.DeviceAllocationModeExactCount
	}
	if *mode == resourcev1.DeviceAllocationModeExactCount && *count == 0 {
		*count = 1
	}
}

func defaultTolerations(ts []resourcev1.DeviceToleration) {
	for i := range ts {
		if ts[i].Operator == "" {
			ts[i].Operator = resourcev1.DeviceTolerationOpEqual
		}
	}
}

var modes = []string{string(resourcev1.DeviceAllocationModeAll), string(resourcev1.DeviceAllocationModeExactCount)}

// ValidateSpec checks the requests, constraints and configuration of a claim spec at p.
func ValidateSpec(s *resourcev1.ResourceClaimSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	dp := p.Child("devices")
	names := sets.New[string]()
	for i := range s.Devices.Requests {
		r := &s.Devices.Requests[i]
		rp := dp.Child("requests").Index(i)
		errs = append(errs, requiredName(r.Name, validation.IsDNS1123Label, rp.Child("name"))...)
		if names.Has(r.Name) {
			errs = append(errs, field.Duplicate(rp.Child("name"), r.Name))
		}
		names.Insert(r.Name)
		switch {
		case r.Exactly == nil && len(r.FirstAvailable) == 0:
			errs = append(errs, field.Required(rp, "exactly one of `exactly` or `firstAvailable` is required"))
		case r.Exactly != nil && len(r.FirstAvailable) != 0:
			errs = append(errs, field.Invalid(rp, nil, "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set"))
		case r.Exactly != nil:
			e := r.Exactly
			errs = append(errs, validateDevices(e.DeviceClassName, e.AllocationMode, e.Count, e.Selectors, rp.Child("exactly"))...)
		default:
			subNames := sets.New[string]()
			for j := range r.FirstAvailable {
				sub := &r.FirstAvailable[j]
				sp := rp.Child("firstAvailable").Index(j)
				errs = append(errs, requiredName(sub.Name, validation.IsDNS1123Label, sp.Child("name"))...)
				if subNames.Has(sub.Name) {
					errs = append(errs, field.Duplicate(sp.Child("name"), sub.Name))
				}
				subNames.Insert(sub.Name)
				errs = append(errs, validateDevices(sub.DeviceClassName, sub.AllocationMode, sub.Count, sub.Selectors, sp)...)
			}
		}
	}
	for i, c := range s.Devices.Constraints {
		for j, req := range c.Requests {
			base := strings.SplitN(req, "/", 2)[0]
			if !names.Has(base) {
				errs = append(errs, field.Invalid(dp.Child("constraints").Index(i).Child("requests").Index(j), req, "must be the name of a request in the claim or the name of a request and a subrequest separated by '/'"))
			}
		}
	}
	for i, c := range s.Devices.Config {
		errs = append(errs, ValidateOpaque(c.Opaque, dp.Child("config").Index(i))...)
	}
	return errs
}

// ValidateOpaque checks an opaque device configuration: a driver and parameters.
func ValidateOpaque(o *resourcev1.OpaqueDeviceConfiguration, p *field.Path) field.ErrorList {
	if o == nil {
		return field.ErrorList{field.Required(p.Child("opaque"), "")}
	}
	op := p.Child("opaque")
	errs := ValidateDriverName(o.Driver, op.Child("driver"))
	if len(o.Parameters.Raw) == 0 {
		errs = append(errs, field.Required(op.Child("parameters"), ""))
	}
	return errs
}

// ValidateDriverName checks a DRA driver name: required, a DNS subdomain.
func ValidateDriverName(name string, p *field.Path) field.ErrorList {
	return requiredName(name, validation.IsDNS1123Subdomain, p)
}

// requiredName checks a required name with check (a DNS label or subdomain rule).
func requiredName(name string, check func(string) []string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	for _, msg := range check(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

// validateDevices checks what an exact request and a subrequest both ask for at p: a
// device class, an allocation mode with its count, and selectors.
func validateDevices(class string, mode resourcev1.DeviceAllocationMode, count int64, sels []resourcev1.DeviceSelector, p *field.Path) field.ErrorList {
	errs := requiredName(class, validation.IsDNS1123Subdomain, p.Child("deviceClassName"))
	errs = append(errs, validateMode(mode, count, p)...)
	return append(errs, ValidateSelectors(sels, p.Child("selectors"))...)
}

func validateMode(mode resourcev1.DeviceAllocationMode, count int64, p *field.Path) field.ErrorList {
	switch mode {
	case resourcev1.DeviceAllocationModeAll:
		if count != 0 {
			return field.ErrorList{field.Invalid(p.Child("count"), count, "must not be specified when allocationMode is 'All'")}
		}
	case resourcev1.DeviceAllocationModeExactCount:
		if count <= 0 {
			return field.ErrorList{field.Invalid(p.Child("count"), count, "must be greater than zero")}
		}
	default:
		return field.ErrorList{field.NotSupported(p.Child("allocationMode"), mode, modes)}
	}
	return nil
}

// ValidateSelectors checks device selectors: each needs a CEL expression.
func ValidateSelectors(sels []resourcev1.DeviceSelector, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sels {
		sp := p.Index(i)
		if s.CEL == nil {
			errs = append(errs, field.Required(sp.Child("cel"), ""))
		} else if strings.TrimSpace(s.CEL.Expression) == "" {
			errs = append(errs, field.Required(sp.Child("cel", "expression"), ""))
		}
	}
	return errs
}
