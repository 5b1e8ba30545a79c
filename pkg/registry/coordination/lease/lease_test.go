package lease

import (
	"context"
	"slices"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	i32 := func(n int32) *int32 { return &n }
	str := func(s string) *string { return &s }
	strat := func(s string) *coordinationv1.CoordinatedLeaseStrategy {
		v := coordinationv1.CoordinatedLeaseStrategy(s)
		return &v
	}
	for name, tc := range map[string]struct {
		spec coordinationv1.LeaseSpec
		want []string
	}{
		"valid":           {coordinationv1.LeaseSpec{HolderIdentity: str("me"), LeaseDurationSeconds: i32(15), LeaseTransitions: i32(0)}, nil},
		"zero duration":   {coordinationv1.LeaseSpec{LeaseDurationSeconds: i32(0)}, []string{"spec.leaseDurationSeconds"}},
		"neg transitions": {coordinationv1.LeaseSpec{LeaseTransitions: i32(-1)}, []string{"spec.leaseTransitions"}},
		"preferred alone": {coordinationv1.LeaseSpec{PreferredHolder: str("x")}, []string{"spec.preferredHolder"}},
		"strategy":        {coordinationv1.LeaseSpec{Strategy: strat("OldestEmulationVersion"), PreferredHolder: str("x")}, nil},
		"custom strategy": {coordinationv1.LeaseSpec{Strategy: strat("example.com/mine")}, nil},
		"bad strategy":    {coordinationv1.LeaseSpec{Strategy: strat("Newest")}, []string{"spec.strategy"}},
	} {
		var got []string
		for _, e := range Resource.Validate(context.Background(), &coordinationv1.Lease{Spec: tc.spec}) {
			got = append(got, e.Field)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

func TestRow(t *testing.T) {
	h := "node-1"
	row := Resource.Row(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "l"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &h}})
	if row[0] != "l" || row[1] != "node-1" {
		t.Errorf("row = %v", row)
	}
	if row := Resource.Row(&coordinationv1.Lease{}); row[1] != "" {
		t.Errorf("no holder: %v", row)
	}
}
