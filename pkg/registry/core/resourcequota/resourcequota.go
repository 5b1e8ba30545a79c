// Package resourcequota serves core/v1 ResourceQuotas with their status subresource
// (written by the quota controller) and kubectl's "used/hard" table.
package resourcequota

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is resourcequotas.
var Resource = &store.Resource{
	Name: "resourcequotas", Singular: "resourcequota", Namespaced: true, ShortNames: []string{"quota"},
	New:     func() runtime.Object { return &corev1.ResourceQuota{} },
	NewList: func() runtime.Object { return &corev1.ResourceQuotaList{} },
	Status:  true,
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.ResourceQuota))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		q := obj.(*corev1.ResourceQuota)
		errs := validateList(q.Status.Hard, field.NewPath("status", "hard"))
		return append(errs, validateList(q.Status.Used, field.NewPath("status", "used"))...)
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn, store.AgeColumn,
		{Name: "Request", Type: "string", Description: "Request represents a minimum amount of cpu/memory that a container may consume."},
		{Name: "Limit", Type: "string", Description: "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."},
	},
	Row: func(obj runtime.Object) []any {
		q := obj.(*corev1.ResourceQuota)
		req, lim := Columns(q)
		return []any{q.Name, store.Age(q.CreationTimestamp), req, lim}
	},
}

var scopes = sets.New(string(corev1.ResourceQuotaScopeTerminating), string(corev1.ResourceQuotaScopeNotTerminating),
	string(corev1.ResourceQuotaScopeBestEffort), string(corev1.ResourceQuotaScopeNotBestEffort),
	string(corev1.ResourceQuotaScopePriorityClass), string(corev1.ResourceQuotaScopeCrossNamespacePodAffinity),
	string(corev1.ResourceQuotaScopeVolumeAttributesClass))

// Validate checks hard limits and scopes.
func Validate(q *corev1.ResourceQuota) field.ErrorList {
	errs := validateList(q.Spec.Hard, field.NewPath("spec", "hard"))
	for i, s := range q.Spec.Scopes {
		if !scopes.Has(string(s)) {
			errs = append(errs, field.NotSupported(field.NewPath("spec", "scopes").Index(i), s, sets.List(scopes)))
		}
	}
	if sel := q.Spec.ScopeSelector; sel != nil {
		for i, r := range sel.MatchExpressions {
			p := field.NewPath("spec", "scopeSelector", "matchExpressions").Index(i)
			if !scopes.Has(string(r.ScopeName)) {
				errs = append(errs, field.NotSupported(p.Child("scopeName"), r.ScopeName, sets.List(scopes)))
			}
			switch r.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(r.Values) == 0 {
					errs = append(errs, field.Required(p.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(r.Values) != 0 {
					errs = append(errs, field.Invalid(p.Child("values"), r.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				errs = append(errs, field.Invalid(p.Child("operator"), r.Operator, "not a valid selector operator"))
			}
		}
	}
	return errs
}

func validateList(l corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for k, v := range l {
		kp := p.Key(string(k))
		for _, msg := range validation.IsQualifiedName(string(k)) {
			errs = append(errs, field.Invalid(kp, k, msg))
		}
		if v.Sign() < 0 {
			errs = append(errs, field.Invalid(kp, v.String(), "must be greater than or equal to 0"))
		}
	}
	return errs
}

// Columns returns the REQUEST and LIMIT cells: "name: used/hard" for each hard limit,
// sorted, limits.* resources in LIMIT.
func Columns(q *corev1.ResourceQuota) (string, string) {
	names := make([]string, 0, len(q.Spec.Hard))
	for k := range q.Spec.Hard {
		names = append(names, string(k))
	}
	sort.Strings(names)
	var req, lim bytes.Buffer
	for _, n := range names {
		w := &req
		if pieces := strings.Split(n, "."); len(pieces) > 1 && pieces[0] == "limits" {
			w = &lim
		}
		used := q.Status.Used[corev1.ResourceName(n)]
		hard := q.Spec.Hard[corev1.ResourceName(n)]
		fmt.Fprintf(w, "%s: %s/%s, ", n, used.String(), hard.String())
	}
	return strings.TrimSuffix(req.String(), ", "), strings.TrimSuffix(lim.String(), ", ")
}
