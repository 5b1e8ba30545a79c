package clusterrolebinding

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestClusterRoleBinding(t *testing.T) {
	b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"},
		RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "Group", Name: "devs"}, {Kind: "ServiceAccount", Name: "default", Namespace: "ns"}}}
	Resource.Defaults(b)
	if b.RoleRef.APIGroup != rbacv1.GroupName || b.Subjects[0].APIGroup != rbacv1.GroupName {
		t.Errorf("defaults: %+v", b)
	}
	if errs := Resource.Validate(context.Background(), b); len(errs) > 0 {
		t.Fatal(errs)
	}
	row := Resource.Row(b)
	if len(row) != len(Resource.Columns) || row[1] != "ClusterRole/view" || row[4] != "devs" || row[5] != "ns/default" {
		t.Errorf("row %v", row)
	}
	bad := b.DeepCopy()
	bad.RoleRef.Kind = "Role"
	if errs := Resource.Validate(context.Background(), bad); len(errs) != 1 || errs[0].Field != "roleRef.kind" {
		t.Errorf("Role in a cluster binding: %v", errs)
	}
	bad = b.DeepCopy()
	bad.Subjects[1].Namespace = ""
	if errs := Resource.Validate(context.Background(), bad); len(errs) != 1 || errs[0].Field != "subjects[1].namespace" {
		t.Errorf("service account without namespace: %v", errs)
	}
	nb := b.DeepCopy()
	nb.RoleRef.Name = "edit"
	if errs := Resource.ValidateUpdate(context.Background(), nb, b); len(errs) != 1 || errs[0].Detail != "cannot change roleRef" {
		t.Errorf("update: %v", errs)
	}
}
