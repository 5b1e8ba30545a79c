package poddisruptionbudget

import (
	"context"
	"slices"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestValidate(t *testing.T) {
	one, pct, over, neg := intstr.FromInt32(1), intstr.FromString("30%"), intstr.FromString("150%"), intstr.FromInt32(-1)
	bad := policyv1.UnhealthyPodEvictionPolicyType("Never")
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	for name, tc := range map[string]struct {
		spec policyv1.PodDisruptionBudgetSpec
		want []string
	}{
		"min":     {policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: sel}, nil},
		"max pct": {policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &pct, Selector: sel}, nil},
		"both":    {policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, MaxUnavailable: &pct}, []string{"FieldValueInvalid spec"}},
		"over 100": {policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &over},
			[]string{"FieldValueInvalid spec.maxUnavailable"}},
		"negative": {policyv1.PodDisruptionBudgetSpec{MinAvailable: &neg}, []string{"FieldValueInvalid spec.minAvailable"}},
		"policy": {policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, UnhealthyPodEvictionPolicy: &bad},
			[]string{"FieldValueNotSupported spec.unhealthyPodEvictionPolicy"}},
	} {
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: tc.spec}
		if got := errorKeys(Resource.Validate(context.Background(), pdb)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
	if got := errorKeys(ValidateStatus(&policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: -1}, field.NewPath("status"))); !slices.Equal(got, []string{"FieldValueInvalid status.disruptionsAllowed"}) {
		t.Errorf("status: %v", got)
	}
}

func TestRow(t *testing.T) {
	pct := intstr.FromString("30%")
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &pct}, Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 2}}
	row := Resource.Row(pdb)
	if want := []any{"p", "N/A", "30%", int64(2), row[4]}; !slices.Equal(row, want) {
		t.Errorf("row = %v", row)
	}
}
