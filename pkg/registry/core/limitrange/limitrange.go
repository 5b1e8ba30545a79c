// Package limitrange serves core/v1 LimitRanges: upstream's container defaults
// (default from max, defaultRequest from default or min) and the ordering checks.
package limitrange

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is limitranges.
var Resource = &store.Resource{
	Name: "limitranges", Singular: "limitrange", Namespaced: true, ShortNames: []string{"limits"},
	New:      func() runtime.Object { return &corev1.LimitRange{} },
	NewList:  func() runtime.Object { return &corev1.LimitRangeList{} },
	Defaults: func(obj runtime.Object) { Defaults(obj.(*corev1.LimitRange)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.LimitRange))
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}},
	Row: func(obj runtime.Object) []any {
		lr := obj.(*corev1.LimitRange)
		return []any{lr.Name, lr.CreationTimestamp.UTC().Format(time.RFC3339)}
	},
}

// Defaults fills a Container limit's default from max and defaultRequest from default
// or min, as upstream.
func Defaults(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		if item.Default == nil {
			item.Default = corev1.ResourceList{}
		}
		if item.DefaultRequest == nil {
			item.DefaultRequest = corev1.ResourceList{}
		}
		for k, v := range item.Max {
			if _, ok := item.Default[k]; !ok {
				item.Default[k] = v.DeepCopy()
			}
		}
		for k, v := range item.Default {
			if _, ok := item.DefaultRequest[k]; !ok {
				item.DefaultRequest[k] = v.DeepCopy()
			}
		}
		for k, v := range item.Min {
			if _, ok := item.DefaultRequest[k]; !ok {
				item.DefaultRequest[k] = v.DeepCopy()
			}
		}
	}
}

var limitTypes = sets.New(string(corev1.LimitTypePod), string(corev1.LimitTypeContainer), string(corev1.LimitTypePersistentVolumeClaim))

// Validate checks each limit: its type, non-negative quantities, and
// min <= defaultRequest <= default <= max.
func Validate(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	for i, item := range lr.Spec.Limits {
		p := field.NewPath("spec", "limits").Index(i)
		if !limitTypes.Has(string(item.Type)) {
			errs = append(errs, field.NotSupported(p.Child("type"), item.Type, sets.List(limitTypes)))
		}
		for name, list := range map[string]corev1.ResourceList{"max": item.Max, "min": item.Min, "default": item.Default,
			"defaultRequest": item.DefaultRequest, "maxLimitRequestRatio": item.MaxLimitRequestRatio} {
			for k, q := range list {
				if q.Sign() < 0 {
					errs = append(errs, field.Invalid(p.Child(name).Key(string(k)), q.String(), "must be greater than or equal to 0"))
				}
			}
		}
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		keys := sets.New[corev1.ResourceName]()
		for _, l := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest} {
			for k := range l {
				keys.Insert(k)
			}
		}
		for _, k := range sets.List(keys) {
			minQ, hasMin := item.Min[k]
			maxQ, hasMax := item.Max[k]
			defQ, hasDef := item.Default[k]
			reqQ, hasReq := item.DefaultRequest[k]
			key := p.Child("min").Key(string(k))
			if hasMin && hasMax && minQ.Cmp(maxQ) > 0 {
				errs = append(errs, field.Invalid(key, minQ.String(), fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
			}
			if hasReq && hasMin && minQ.Cmp(reqQ) > 0 {
				errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(string(k)), reqQ.String(), fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), reqQ.String())))
			}
			if hasReq && hasMax && reqQ.Cmp(maxQ) > 0 {
				errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(string(k)), reqQ.String(), fmt.Sprintf("default request value %s is greater than max value %s", reqQ.String(), maxQ.String())))
			}
			if hasReq && hasDef && reqQ.Cmp(defQ) > 0 {
				errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(string(k)), reqQ.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", reqQ.String(), defQ.String())))
			}
			if hasDef && hasMin && minQ.Cmp(defQ) > 0 {
				errs = append(errs, field.Invalid(p.Child("default").Key(string(k)), defQ.String(), fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), defQ.String())))
			}
			if hasDef && hasMax && defQ.Cmp(maxQ) > 0 {
				errs = append(errs, field.Invalid(p.Child("default").Key(string(k)), defQ.String(), fmt.Sprintf("default value %s is greater than max value %s", defQ.String(), maxQ.String())))
			}
		}
		for k, r := range item.MaxLimitRequestRatio {
			if r.Cmp(resource.MustParse("1")) < 0 {
				errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(string(k)), r.String(), fmt.Sprintf("ratio %s is less than 1", r.String())))
			}
		}
	}
	return errs
}
