package rolebinding

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRoleBinding(t *testing.T) {
	b := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"},
		RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "jane"}, {Kind: "ServiceAccount", Name: "default", Namespace: "ns"}}}
	Resource.Defaults(b)
	if errs := Resource.Validate(context.Background(), b); len(errs) > 0 {
		t.Fatal(errs)
	}
	row := Resource.Row(b)
	if len(row) != len(Resource.Columns) || row[1] != "ClusterRole/view" || row[3] != "jane" || row[5] != "ns/default" {
		t.Errorf("row %v", row)
	}
	nb := b.DeepCopy()
	nb.RoleRef.Name = "edit"
	if errs := Resource.ValidateUpdate(context.Background(), nb, b); len(errs) != 1 || errs[0].Detail != "cannot change roleRef" {
		t.Errorf("update: %v", errs)
	}
}
