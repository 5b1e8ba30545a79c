package integration

import (
	"fmt"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClusterRoleAggregation: a ClusterRole labelled aggregate-to-view adds its rules
// to view (and, through view's own labels, to edit and admin); removing it takes them out.
func TestClusterRoleAggregation(t *testing.T) {
	ctx := ctxT(t)
	c := srv.Client.RbacV1().ClusterRoles()
	name := "gadget-viewer-" + fmt.Sprint(time.Now().UnixNano())
	rule := rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{"gadgets.example.org"}, Resources: []string{name}}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}}, Rules: []rbacv1.PolicyRule{rule}}
	if _, err := c.Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	holds := func(role string) (bool, error) {
		r, err := c.Get(ctx, role, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, x := range r.Rules {
			if len(x.Resources) == 1 && x.Resources[0] == name {
				return true, nil
			}
		}
		return false, nil
	}
	eventually(t, time.Minute, func() error {
		for _, r := range []string{"view", "edit", "admin"} {
			if ok, err := holds(r); err != nil || !ok {
				return fmt.Errorf("%s does not hold the new rule yet (%v)", r, err)
			}
		}
		return nil
	})
	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		if ok, err := holds("view"); err != nil || ok {
			return fmt.Errorf("view still holds the deleted role's rule (%v)", err)
		}
		return nil
	})
}
