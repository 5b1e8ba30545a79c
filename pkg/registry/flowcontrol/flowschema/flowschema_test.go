package flowschema

import (
	"reflect"
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
)

func schema() *flowcontrolv1.FlowSchema {
	fs := &flowcontrolv1.FlowSchema{ObjectMeta: metav1.ObjectMeta{Name: "fs"}, Spec: flowcontrolv1.FlowSchemaSpec{
		PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "global-default"},
		Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
			Subjects:      []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindGroup, Group: &flowcontrolv1.GroupSubject{Name: "system:authenticated"}}},
			ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}, ClusterScope: true}},
		}},
	}}
	Resource.Defaults(fs)
	return fs
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*flowcontrolv1.FlowSchema)
		field  string
	}{
		{"valid", func(*flowcontrolv1.FlowSchema) {}, ""},
		{"precedence", func(f *flowcontrolv1.FlowSchema) { f.Spec.MatchingPrecedence = 10001 }, "spec.matchingPrecedence"},
		{"no priority level", func(f *flowcontrolv1.FlowSchema) { f.Spec.PriorityLevelConfiguration.Name = "" }, "spec.priorityLevelConfiguration.name"},
		{"no subjects", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].Subjects = nil }, "spec.rules[0].subjects"},
		{"user without user", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].Subjects[0].Kind = flowcontrolv1.SubjectKindUser }, "spec.rules[0].subjects[0].user"},
		{"no rules", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].ResourceRules = nil }, "spec.rules[0]"},
		{"namespaced without namespaces", func(f *flowcontrolv1.FlowSchema) { f.Spec.Rules[0].ResourceRules[0].ClusterScope = false }, "spec.rules[0].resourceRules[0].namespaces"},
		{"distinguisher", func(f *flowcontrolv1.FlowSchema) {
			f.Spec.DistinguisherMethod = &flowcontrolv1.FlowDistinguisherMethod{Type: "ByColour"}
		}, "spec.distinguisherMethod.type"},
	}
	for _, c := range cases {
		fs := schema()
		c.mutate(fs)
		errs := Validate(fs)
		if c.field == "" && len(errs) != 0 || c.field != "" && (len(errs) != 1 || errs[0].Field != c.field) {
			t.Errorf("%s: got %v, want error on %q", c.name, errs, c.field)
		}
	}
}

func TestBootstrapObjectsAreValid(t *testing.T) {
	for _, fs := range append(append([]*flowcontrolv1.FlowSchema{}, bootstrap.MandatoryFlowSchemas...), bootstrap.SuggestedFlowSchemas...) {
		if errs := Validate(fs); len(errs) != 0 {
			t.Errorf("%s: %v", fs.Name, errs)
		}
	}
}

func TestRow(t *testing.T) {
	fs := schema()
	if fs.Spec.MatchingPrecedence != DefaultMatchingPrecedence {
		t.Fatalf("precedence default %d", fs.Spec.MatchingPrecedence)
	}
	got := Row(fs)
	if want := []any{"fs", "global-default", int64(1000), "<none>"}; !reflect.DeepEqual(got[:4], want) || got[5] != "?" {
		t.Errorf("row %v", got)
	}
	fs.Spec.DistinguisherMethod = &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType}
	fs.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse}}
	if got := Row(fs); got[3] != "ByUser" || got[5] != "False" {
		t.Errorf("row %v", got)
	}
}
