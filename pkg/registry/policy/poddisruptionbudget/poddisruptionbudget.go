// Package poddisruptionbudget serves policy/v1 PodDisruptionBudgets: how many of a set
// of pods voluntary disruptions (evictions) may take down at once.
package poddisruptionbudget

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/apps/workload"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is poddisruptionbudgets.
var Resource = &store.Resource{
	Name: "poddisruptionbudgets", Singular: "poddisruptionbudget", Namespaced: true, ShortNames: []string{"pdb"},
	New:        func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
	NewList:    func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
	Generation: true,
	Status:     true,
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return ValidateSpec(&obj.(*policyv1.PodDisruptionBudget).Spec, field.NewPath("spec"))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return ValidateStatus(&obj.(*policyv1.PodDisruptionBudget).Status, field.NewPath("status"))
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Min Available", Type: "string", Description: "The minimum number of pods that must be available."},
		{Name: "Max Unavailable", Type: "string", Description: "The maximum number of pods that may be unavailable."},
		{Name: "Allowed Disruptions", Type: "integer", Description: "Calculated number of pods that may be disrupted at this time."},
		store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		pdb := obj.(*policyv1.PodDisruptionBudget)
		return []any{pdb.Name, orNA(pdb.Spec.MinAvailable), orNA(pdb.Spec.MaxUnavailable),
			int64(pdb.Status.DisruptionsAllowed), store.Age(pdb.CreationTimestamp)}
	},
}

func orNA(v *intstr.IntOrString) string {
	if v == nil {
		return "N/A"
	}
	return v.String()
}

var evictionPolicies = []policyv1.UnhealthyPodEvictionPolicyType{policyv1.AlwaysAllow, policyv1.IfHealthyBudget}

// ValidateSpec checks minAvailable and maxUnavailable (not both), the selector and the
// unhealthy pod eviction policy.
func ValidateSpec(spec *policyv1.PodDisruptionBudgetSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(path, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	errs = append(errs, workload.ValidatePositiveIntOrPercent(spec.MinAvailable, path.Child("minAvailable"))...)
	errs = append(errs, workload.NotMoreThan100Percent(spec.MinAvailable, path.Child("minAvailable"))...)
	errs = append(errs, workload.ValidatePositiveIntOrPercent(spec.MaxUnavailable, path.Child("maxUnavailable"))...)
	errs = append(errs, workload.NotMoreThan100Percent(spec.MaxUnavailable, path.Child("maxUnavailable"))...)
	errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, path.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && *p != policyv1.AlwaysAllow && *p != policyv1.IfHealthyBudget {
		errs = append(errs, field.NotSupported(path.Child("unhealthyPodEvictionPolicy"), *p, evictionPolicies))
	}
	return errs
}

// ValidateStatus checks the counters the disruption controller writes.
func ValidateStatus(st *policyv1.PodDisruptionBudgetStatus, path *field.Path) field.ErrorList {
	errs := workload.Counters(path, map[string]int64{
		"disruptionsAllowed": int64(st.DisruptionsAllowed),
		"currentHealthy":     int64(st.CurrentHealthy),
		"desiredHealthy":     int64(st.DesiredHealthy),
		"expectedPods":       int64(st.ExpectedPods),
	})
	errs = append(errs, metav1validation.ValidateConditions(st.Conditions, path.Child("conditions"))...)
	return errs
}
