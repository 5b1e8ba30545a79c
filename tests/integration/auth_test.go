package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestServiceAccountTokensAndRBAC: a TokenRequest token authenticates as its service
// account, RBAC forbids what no binding allows, and a RoleBinding opens exactly that.
func TestServiceAccountTokensAndRBAC(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	if _, err := srv.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := srv.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status.Token == "" || tr.Status.ExpirationTimestamp.Time.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("token request status: %+v", tr.Status.ExpirationTimestamp)
	}
	cfg := rest.AnonymousClientConfig(srv.Config)
	cfg.BearerToken = tr.Status.Token
	robot, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ssr, err := robot.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("system:serviceaccount:%s:robot", ns)
	if ssr.Status.UserInfo.Username != want || !strings.Contains(strings.Join(ssr.Status.UserInfo.Groups, ","), "system:serviceaccounts:"+ns) {
		t.Fatalf("whoami = %+v, want %s", ssr.Status.UserInfo, want)
	}
	_, err = robot.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `cannot list resource "pods"`) {
		t.Fatalf("list pods without a binding: %v, want 403", err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "robot-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "robot", Namespace: ns}}}
	if _, err := srv.Client.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		_, err := robot.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err
	})
	if _, err := robot.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("view may not read secrets: %v", err)
	}
	if _, err := robot.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("binding leaked to kube-system: %v", err)
	}
	if _, err := robot.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("view may not write: %v", err)
	}
	// The token dies with its service account.
	if err := srv.Client.CoreV1().ServiceAccounts(ns).Delete(ctx, "robot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		_, err := robot.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if !apierrors.IsUnauthorized(err) {
			return fmt.Errorf("token of a deleted service account: %v", err)
		}
		return nil
	})
}

func TestKubectlAuth(t *testing.T) {
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		mustContain(t, k.Run("auth", "whoami"), "system:admin", "system:masters", "system:authenticated")
		mustContain(t, k.Run("auth", "can-i", "create", "deployments"), "yes")
		mustContain(t, k.Run("auth", "can-i", "--list"), "*.*")
	})
}
