package prioritylevelconfiguration

import (
	"reflect"
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
)

func limited(q *flowcontrolv1.QueuingConfiguration) *flowcontrolv1.PriorityLevelConfiguration {
	pl := &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "pl"}, Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
		Type:    flowcontrolv1.PriorityLevelEnablementLimited,
		Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue, Queuing: q}},
	}}
	Default(pl)
	return pl
}

func TestDefault(t *testing.T) {
	pl := limited(&flowcontrolv1.QueuingConfiguration{})
	l := pl.Spec.Limited
	if *l.NominalConcurrencyShares != 30 || *l.LendablePercent != 0 {
		t.Errorf("limited defaults %+v", l)
	}
	if q := l.LimitResponse.Queuing; q.HandSize != 8 || q.Queues != 64 || q.QueueLengthLimit != 50 {
		t.Errorf("queuing defaults %+v", q)
	}
	ex := &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt}}
	Default(ex)
	if *ex.Spec.Exempt.NominalConcurrencyShares != 0 || *ex.Spec.Exempt.LendablePercent != 0 {
		t.Errorf("exempt defaults %+v", ex.Spec.Exempt)
	}
	// An explicit zero share count stays zero in v1.
	zero := int32(0)
	pl = &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
		Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: &zero}}}
	Default(pl)
	if *pl.Spec.Limited.NominalConcurrencyShares != 0 {
		t.Errorf("explicit zero replaced")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		pl    *flowcontrolv1.PriorityLevelConfiguration
		field string
	}{
		{"valid", limited(&flowcontrolv1.QueuingConfiguration{}), ""},
		{"hand larger than queues", limited(&flowcontrolv1.QueuingConfiguration{Queues: 4, HandSize: 8}), "spec.limited.limitResponse.queuing.handSize"},
		{"queue without queuing", limited(nil), "spec.limited.limitResponse.queuing"},
		{"entropy", limited(&flowcontrolv1.QueuingConfiguration{Queues: 10000000, HandSize: 100}), "spec.limited.limitResponse.queuing.handSize"},
		{"no type", &flowcontrolv1.PriorityLevelConfiguration{}, "spec.type"},
		{"limited without limited", &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited}}, "spec.limited"},
	}
	for _, c := range cases {
		errs := Validate(c.pl)
		if c.field == "" && len(errs) != 0 || c.field != "" && (len(errs) != 1 || errs[0].Field != c.field) {
			t.Errorf("%s: got %v, want error on %q", c.name, errs, c.field)
		}
	}
	pl := limited(&flowcontrolv1.QueuingConfiguration{})
	lend := int32(101)
	pl.Spec.Limited.LendablePercent = &lend
	if errs := Validate(pl); len(errs) != 1 || errs[0].Field != "spec.limited.lendablePercent" {
		t.Errorf("lendablePercent: %v", errs)
	}
	negative := int32(-1)
	exempt := &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt,
		Exempt: &flowcontrolv1.ExemptPriorityLevelConfiguration{NominalConcurrencyShares: &negative, LendablePercent: &lend}}}
	errs := Validate(exempt)
	if len(errs) != 2 || errs[0].Error() != "spec.exempt.nominalConcurrencyShares: Invalid value: -1: must be a non-negative integer" ||
		errs[1].Error() != "spec.exempt.lendablePercent: Invalid value: 101: must be between 0 and 100, inclusive" {
		t.Errorf("exempt: %v", errs)
	}
}

func TestBootstrapObjectsAreValid(t *testing.T) {
	all := append(append([]*flowcontrolv1.PriorityLevelConfiguration{}, bootstrap.MandatoryPriorityLevelConfigurations...), bootstrap.SuggestedPriorityLevelConfigurations...)
	for _, pl := range all {
		pl = pl.DeepCopy()
		Default(pl)
		if errs := Validate(pl); len(errs) != 0 {
			t.Errorf("%s: %v", pl.Name, errs)
		}
	}
}

func TestRow(t *testing.T) {
	got := Row(limited(&flowcontrolv1.QueuingConfiguration{}))[:6]
	want := []any{"pl", "Limited", int32(30), int32(64), int32(8), int32(50)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row %v, want %v", got, want)
	}
	ex := &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "exempt"}, Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt}}
	if got := Row(ex)[:6]; !reflect.DeepEqual(got, []any{"exempt", "Exempt", "<none>", "<none>", "<none>", "<none>"}) {
		t.Errorf("exempt row %v", got)
	}
}
