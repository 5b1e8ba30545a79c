package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
	sa "github.com/skiff-k8s/skiff/pkg/serviceaccount"
)

func TestTable(t *testing.T) {
	s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Secrets: []corev1.ObjectReference{{Name: "a"}}}
	row := Resource.Row(s)
	if len(row) != len(Resource.Columns) || row[0] != "x" || row[1] != int64(1) {
		t.Fatalf("row %v", row)
	}
}

func TestValidateTokenRequest(t *testing.T) {
	for _, tc := range []struct {
		exp  int64
		want string
	}{{600, ""}, {599, "less than 10 minutes"}, {1<<32 + 1, "larger than 2^32"}} {
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &tc.exp}}
		errs := ValidateTokenRequest(req)
		if tc.want == "" && len(errs) != 0 || tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Detail, tc.want) || errs[0].Field != "spec.expirationSeconds") {
			t.Errorf("%d: %v", tc.exp, errs)
		}
	}
}

// getter is a fake rest.Getter over a map.
type getter map[string]runtime.Object

func (g getter) New() runtime.Object { return nil }
func (g getter) Destroy()            {}
func (g getter) Get(_ context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	if o, ok := g[name]; ok {
		return o, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("x"), name)
}

func TestTokenRequest(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss, _ := sa.NewIssuerFromKey(key, "https://issuer")
	g := &store.Group{Storage: map[string]rest.Storage{
		"serviceaccounts": getter{"default": &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns", UID: "u1"}}},
		"pods": getter{
			"p":     &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "pu"}, Spec: corev1.PodSpec{ServiceAccountName: "default"}},
			"other": &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns", UID: "ou"}, Spec: corev1.PodSpec{ServiceAccountName: "builder"}},
		},
	}}
	InstallToken(g, &store.Options{TokenIssuer: iss, APIAudiences: []string{"https://issuer"}})
	r := g.Storage["serviceaccounts/token"].(*TokenREST)
	now := time.Now()
	r.now = func() time.Time { return now }
	ctx := genericapirequest.WithNamespace(context.Background(), "ns")

	out, err := r.Create(ctx, "default", &authenticationv1.TokenRequest{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := out.(*authenticationv1.TokenRequest)
	if tr.Status.Token == "" || *tr.Spec.ExpirationSeconds != 3600 || !tr.Status.ExpirationTimestamp.Time.Equal(now.Add(time.Hour).Truncate(time.Second)) && tr.Status.ExpirationTimestamp.Unix() != now.Add(time.Hour).Unix() {
		t.Errorf("token request %+v", tr)
	}
	if len(tr.Spec.Audiences) != 1 || tr.Spec.Audiences[0] != "https://issuer" {
		t.Errorf("audiences %v", tr.Spec.Audiences)
	}

	for _, tc := range []struct {
		name, sa string
		ref      *authenticationv1.BoundObjectReference
		check    func(error) bool
	}{
		{"missing sa", "nope", nil, apierrors.IsNotFound},
		{"pod of other sa", "default", &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "other"}, apierrors.IsBadRequest},
		{"uid mismatch", "default", &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: "zz"}, apierrors.IsConflict},
		{"bad kind", "default", &authenticationv1.BoundObjectReference{Kind: "ConfigMap", APIVersion: "v1", Name: "p"}, apierrors.IsBadRequest},
		{"secrets not served", "default", &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: "s"}, apierrors.IsServiceUnavailable},
	} {
		_, err := r.Create(ctx, tc.sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: tc.ref}}, nil, nil)
		if !tc.check(err) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := r.Create(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: "pu"}}}, nil, nil); err != nil {
		t.Errorf("pod-bound: %v", err)
	}

	r.issuer = nil
	if _, err := r.Create(ctx, "default", &authenticationv1.TokenRequest{}, nil, nil); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("no issuer: %v", err)
	}
}
