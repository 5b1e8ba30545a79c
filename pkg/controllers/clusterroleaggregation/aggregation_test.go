package clusterroleaggregation

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestAggregate(t *testing.T) {
	label := "rbac.authorization.k8s.io/aggregate-to-view"
	view := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{label: "true"}}}}}
	read := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	gadgets := rbacv1.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{"example.org"}, Resources: []string{"gadgets"}}
	roles := []*rbacv1.ClusterRole{view,
		{ObjectMeta: metav1.ObjectMeta{Name: "b-gadgets", Labels: map[string]string{label: "true"}}, Rules: []rbacv1.PolicyRule{gadgets, read}},
		{ObjectMeta: metav1.ObjectMeta{Name: "a-core", Labels: map[string]string{label: "true"}}, Rules: []rbacv1.PolicyRule{read}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}},
	}
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	for _, r := range roles {
		_ = f.Rbac().V1().ClusterRoles().Informer().GetStore().Add(r)
	}
	c := &controller{lister: f.Rbac().V1().ClusterRoles().Lister()}
	rules, err := c.aggregate(view)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].Resources[0] != "pods" || rules[1].Resources[0] != "gadgets" {
		t.Fatalf("aggregated rules: %+v", rules)
	}
}
