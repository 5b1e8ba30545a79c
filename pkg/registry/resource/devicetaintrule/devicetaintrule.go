// Package devicetaintrule serves resource.k8s.io/v1 DeviceTaintRules: taints an
// administrator puts on the DRA devices a selector matches.
package devicetaintrule

import (
	"context"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is devicetaintrules.
var Resource = &store.Resource{
	Name: "devicetaintrules", Singular: "devicetaintrule", Generation: true, Status: true,
	New:     func() runtime.Object { return &resourcev1.DeviceTaintRule{} },
	NewList: func() runtime.Object { return &resourcev1.DeviceTaintRuleList{} },
	Columns: []metav1.TableColumnDefinition{store.NameColumn, store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		o := obj.(*resourcev1.DeviceTaintRule)
		return []any{o.Name, store.Age(o.CreationTimestamp)}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*resourcev1.DeviceTaintRule))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		r := obj.(*resourcev1.DeviceTaintRule)
		p := field.NewPath("status", "conditions")
		errs := metavalidation.ValidateConditions(r.Status.Conditions, p)
		if len(r.Status.Conditions) > resourcev1.DeviceTaintRuleStatusMaxConditions {
			errs = append(errs, field.TooMany(p, len(r.Status.Conditions), resourcev1.DeviceTaintRuleStatusMaxConditions))
		}
		return errs
	},
	PrepareForCreate: func(_ context.Context, obj runtime.Object) {
		if t := &obj.(*resourcev1.DeviceTaintRule).Spec.Taint; t.TimeAdded == nil {
			now := metav1.Now()
			t.TimeAdded = &now
		}
	},
}

var effects = []string{string(resourcev1.DeviceTaintEffectNone), string(resourcev1.DeviceTaintEffectNoSchedule), string(resourcev1.DeviceTaintEffectNoExecute)}

// Validate checks the taint and the selector.
func Validate(r *resourcev1.DeviceTaintRule) field.ErrorList {
	sp := field.NewPath("spec")
	t := r.Spec.Taint
	tp := sp.Child("taint")
	var errs field.ErrorList
	if t.Key == "" {
		errs = append(errs, field.Required(tp.Child("key"), ""))
	} else {
		errs = append(errs, metavalidation.ValidateLabelName(t.Key, tp.Child("key"))...)
	}
	for _, msg := range validation.IsValidLabelValue(t.Value) {
		errs = append(errs, field.Invalid(tp.Child("value"), t.Value, msg))
	}
	switch t.Effect {
	case "":
		errs = append(errs, field.Required(tp.Child("effect"), ""))
	case resourcev1.DeviceTaintEffectNone, resourcev1.DeviceTaintEffectNoSchedule, resourcev1.DeviceTaintEffectNoExecute:
	default:
		errs = append(errs, field.NotSupported(tp.Child("effect"), t.Effect, effects))
	}
	if s := r.Spec.DeviceSelector; s != nil {
		p := sp.Child("deviceSelector")
		if s.Driver != nil {
			for _, msg := range validation.IsDNS1123Subdomain(*s.Driver) {
				errs = append(errs, field.Invalid(p.Child("driver"), *s.Driver, msg))
			}
		}
		if s.Device != nil {
			for _, msg := range validation.IsDNS1123Label(*s.Device) {
				errs = append(errs, field.Invalid(p.Child("device"), *s.Device, msg))
			}
		}
	}
	return errs
}
