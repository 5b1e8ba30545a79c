package bootstraptoken

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func secret(mut func(s *corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-abcdef", Namespace: "kube-system"},
		Type:       "bootstrap.kubernetes.io/token",
		Data: map[string][]byte{
			"token-id":                       []byte("abcdef"),
			"token-secret":                   []byte("0123456789abcdef"),
			"usage-bootstrap-authentication": []byte("true"),
			"auth-extra-groups":              []byte("system:bootstrappers:skiff:default-node-token"),
		},
	}
	if mut != nil {
		mut(s)
	}
	return s
}

func TestAuthenticateToken(t *testing.T) {
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name  string
		s     *corev1.Secret
		token string
		ok    bool
	}{
		{"valid", secret(nil), "abcdef.0123456789abcdef", true},
		{"wrong secret", secret(nil), "abcdef.0123456789abcdee", false},
		{"no secret object", secret(nil), "zzzzzz.0123456789abcdef", false},
		{"not a bootstrap token", secret(nil), "some-jwt", false},
		{"wrong type", secret(func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }), "abcdef.0123456789abcdef", false},
		{"expired", secret(func(s *corev1.Secret) { s.Data["expiration"] = []byte(past) }), "abcdef.0123456789abcdef", false},
		{"not for authentication", secret(func(s *corev1.Secret) { delete(s.Data, "usage-bootstrap-authentication") }), "abcdef.0123456789abcdef", false},
		{"bad extra group", secret(func(s *corev1.Secret) { s.Data["auth-extra-groups"] = []byte("system:masters") }), "abcdef.0123456789abcdef", false},
		{"being deleted", secret(func(s *corev1.Secret) { now := metav1.Now(); s.DeletionTimestamp = &now }), "abcdef.0123456789abcdef", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
			_ = idx.Add(tc.s)
			a := New(corelisters.NewSecretLister(idx).Secrets("kube-system"))
			resp, ok, err := a.AuthenticateToken(context.Background(), tc.token)
			if err != nil || ok != tc.ok {
				t.Fatalf("ok %v, err %v; want ok %v", ok, err, tc.ok)
			}
			if !ok {
				return
			}
			u := resp.User
			if u.GetName() != "system:bootstrap:abcdef" || !slices.Equal(u.GetGroups(), []string{"system:bootstrappers", "system:bootstrappers:skiff:default-node-token"}) {
				t.Errorf("user %q groups %v", u.GetName(), u.GetGroups())
			}
		})
	}
}
