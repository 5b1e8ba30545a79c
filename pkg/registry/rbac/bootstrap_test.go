package rbac

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-k8s/skiff/pkg/registry/rbac/validation"
)

func TestBootstrapPolicyIsValidAndIdempotent(t *testing.T) {
	for _, r := range BootstrapClusterRoles() {
		if errs := validation.PolicyRules(r.Rules, false, field.NewPath("rules")); len(errs) > 0 {
			t.Errorf("%s: %v", r.Name, errs)
		}
	}
	for _, b := range BootstrapClusterRoleBindings() {
		if errs := append(validation.RoleRef(b.RoleRef, []string{"ClusterRole"}), validation.Subjects(b.Subjects, false)...); len(errs) > 0 {
			t.Errorf("%s: %v", b.Name, errs)
		}
	}
	client := fake.NewSimpleClientset()
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := EnsureBootstrapPolicy(ctx, client); err != nil {
			t.Fatal(err)
		}
	}
	roles, _ := client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
	if len(roles.Items) != len(BootstrapClusterRoles()) {
		t.Errorf("%d roles", len(roles.Items))
	}
	crb, err := client.RbacV1().ClusterRoleBindings().Get(ctx, "cluster-admin", metav1.GetOptions{})
	if err != nil || crb.Subjects[0].Name != "system:masters" {
		t.Errorf("cluster-admin binding: %v %v", crb, err)
	}
}
