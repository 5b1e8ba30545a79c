package validation

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func fields(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPolicyRule(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rule       rbacv1.PolicyRule
		namespaced bool
		want       []string
	}{
		{"ok", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}, true, nil},
		{"no verbs", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}}, true, []string{"FieldValueRequired r.verbs"}},
		{"no groups or resources", rbacv1.PolicyRule{Verbs: []string{"get"}}, true,
			[]string{"FieldValueRequired r.apiGroups", "FieldValueRequired r.resources"}},
		{"urls in role", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, true, []string{"FieldValueInvalid r.nonResourceURLs"}},
		{"urls in cluster role", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, false, nil},
		{"urls and resources", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}, Resources: []string{"pods"}}, false,
			[]string{"FieldValueInvalid r.nonResourceURLs"}},
	} {
		if got := fields(PolicyRule(tc.rule, tc.namespaced, field.NewPath("r"))); !same(got, tc.want) {
			t.Errorf("%s: got %v want %v", tc.name, got, tc.want)
		}
	}
}

func TestBindingRules(t *testing.T) {
	ref := rbacv1.RoleRef{Kind: "Role", Name: "r"}
	subjects := []rbacv1.Subject{{Kind: "User", Name: "u"}, {Kind: "ServiceAccount", Name: "sa"}, {Kind: "Group", Name: "g"}}
	DefaultBinding(&ref, subjects)
	if ref.APIGroup != rbacv1.GroupName || subjects[0].APIGroup != rbacv1.GroupName || subjects[1].APIGroup != "" || subjects[2].APIGroup != rbacv1.GroupName {
		t.Fatalf("defaults: %+v %+v", ref, subjects)
	}
	if errs := append(RoleRef(ref, []string{"Role", "ClusterRole"}), Subjects(subjects, true)...); len(errs) > 0 {
		t.Fatalf("valid binding: %v", errs)
	}
	if got := fields(RoleRef(ref, []string{"ClusterRole"})); !same(got, []string{"FieldValueNotSupported roleRef.kind"}) {
		t.Errorf("cluster binding to role: %v", got)
	}
	if got := fields(Subjects(subjects, false)); !same(got, []string{"FieldValueRequired subjects[1].namespace"}) {
		t.Errorf("cluster binding sa without namespace: %v", got)
	}
	if got := fields(Subjects([]rbacv1.Subject{{Kind: "Robot", Name: "x"}, {Kind: "User"}}, true)); !same(got,
		[]string{"FieldValueNotSupported subjects[0].kind", "FieldValueRequired subjects[1].name", "FieldValueNotSupported subjects[1].apiGroup"}) {
		t.Errorf("bad subjects: %v", got)
	}
	other := ref
	other.Name = "other"
	if got := fields(RoleRefUnchanged(other, ref)); !same(got, []string{"FieldValueInvalid roleRef"}) {
		t.Errorf("roleRef change: %v", got)
	}
	if got := fields(AggregationRule(&rbacv1.AggregationRule{}, field.NewPath("aggregationRule"))); !same(got,
		[]string{"FieldValueRequired aggregationRule.clusterRoleSelectors"}) {
		t.Errorf("empty aggregation: %v", got)
	}
}

func TestCells(t *testing.T) {
	u, g, s := SubjectCells([]rbacv1.Subject{{Kind: "User", Name: "a"}, {Kind: "User", Name: "b"}, {Kind: "Group", Name: "g"},
		{Kind: "ServiceAccount", Name: "sa", Namespace: "ns"}})
	if u != "a, b" || g != "g" || s != "ns/sa" {
		t.Errorf("%q %q %q", u, g, s)
	}
	if c := CreatedAt(metav1.Unix(0, 0)); c != "1970-01-01T00:00:00Z" {
		t.Errorf("created at %q", c)
	}
}
