package rbac

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
)

func indexer(objs ...any) cache.Indexer {
	i := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		_ = i.Add(o)
	}
	return i
}

func fixture() *Authorizer {
	podReader := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: "dev"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}},
		{Verbs: []string{"update"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"settings"}},
	}}
	scaler := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "scaler"}, Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"*"}, APIGroups: []string{"apps"}, Resources: []string{"*/scale"}},
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/metrics/*"}},
	}}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "readers", Namespace: "dev"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "jane"}, {Kind: "ServiceAccount", Name: "ci"}}}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "scalers"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "scaler"},
		Subjects: []rbacv1.Subject{{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "ops"}}}
	return NewAuthorizer(rbaclisters.NewRoleLister(indexer(podReader)), rbaclisters.NewRoleBindingLister(indexer(rb)),
		rbaclisters.NewClusterRoleLister(indexer(scaler)), rbaclisters.NewClusterRoleBindingLister(indexer(crb)))
}

func TestAuthorize(t *testing.T) {
	a := fixture()
	jane := &user.DefaultInfo{Name: "jane", Groups: []string{"system:authenticated"}}
	ops := &user.DefaultInfo{Name: "bob", Groups: []string{"ops"}}
	ci := &user.DefaultInfo{Name: "system:serviceaccount:dev:ci"}
	ciElsewhere := &user.DefaultInfo{Name: "system:serviceaccount:prod:ci"}
	admin := &user.DefaultInfo{Name: "system:admin", Groups: []string{"system:masters"}}
	res := func(u user.Info, verb, ns, group, resource, sub, name string) authorizer.Attributes {
		return authorizer.AttributesRecord{User: u, Verb: verb, Namespace: ns, APIGroup: group, Resource: resource,
			Subresource: sub, Name: name, ResourceRequest: true}
	}
	path := func(u user.Info, p string) authorizer.Attributes {
		return authorizer.AttributesRecord{User: u, Verb: "get", Path: p}
	}
	for _, tc := range []struct {
		name  string
		attrs authorizer.Attributes
		allow bool
	}{
		{"role in its namespace", res(jane, "get", "dev", "", "pods", "", "p"), true},
		{"role elsewhere", res(jane, "get", "prod", "", "pods", "", "p"), false},
		{"verb not granted", res(jane, "delete", "dev", "", "pods", "", "p"), false},
		{"subresource granted", res(jane, "get", "dev", "", "pods", "log", "p"), true},
		{"subresource not granted", res(jane, "create", "dev", "", "pods", "exec", "p"), false},
		{"resource name", res(jane, "update", "dev", "", "configmaps", "", "settings"), true},
		{"other resource name", res(jane, "update", "dev", "", "configmaps", "", "other"), false},
		{"service account defaulted namespace", res(ci, "list", "dev", "", "pods", "", ""), true},
		{"service account of another namespace", res(ciElsewhere, "list", "dev", "", "pods", "", ""), false},
		{"group, wildcard verb and */scale", res(ops, "patch", "any", "apps", "deployments", "scale", "d"), true},
		{"*/scale is not the resource", res(ops, "patch", "any", "apps", "deployments", "", "d"), false},
		{"wrong group", res(ops, "patch", "any", "", "replicationcontrollers", "scale", "d"), false},
		{"non-resource exact", path(ops, "/healthz"), true},
		{"non-resource prefix", path(ops, "/metrics/slis"), true},
		{"non-resource other", path(ops, "/version"), false},
		{"system:masters", res(admin, "delete", "kube-system", "", "secrets", "", "x"), true},
		{"masters non-resource", path(admin, "/anything"), true},
	} {
		d, reason, err := a.Authorize(context.Background(), tc.attrs)
		if err != nil || (d == authorizer.DecisionAllow) != tc.allow {
			t.Errorf("%s: decision %v reason %q err %v", tc.name, d, reason, err)
		}
	}
}

func TestRulesFor(t *testing.T) {
	a := fixture()
	rr, nr, incomplete, err := a.RulesFor(context.Background(), &user.DefaultInfo{Name: "jane", Groups: []string{"ops"}}, "dev")
	if err != nil || incomplete || len(rr) != 3 || len(nr) != 1 {
		t.Fatalf("rules %v %v %v %v", rr, nr, incomplete, err)
	}
	rr, nr, _, _ = a.RulesFor(context.Background(), &user.DefaultInfo{Name: "jane"}, "prod")
	if len(rr) != 0 || len(nr) != 0 {
		t.Errorf("jane in prod: %v %v", rr, nr)
	}
	// A binding to a missing role makes the answer incomplete.
	a.roleBindings = rbaclisters.NewRoleBindingLister(indexer(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "x"},
		RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "gone"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "jane"}}}))
	if _, _, incomplete, err := a.RulesFor(context.Background(), &user.DefaultInfo{Name: "jane"}, "x"); !incomplete || err == nil {
		t.Errorf("missing role: %v %v", incomplete, err)
	}
}
