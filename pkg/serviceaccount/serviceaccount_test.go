package serviceaccount

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/client-go/kubernetes/fake"
)

const issuerURL = "https://kubernetes.default.svc.cluster.local"

var apiAuds = []string{issuerURL, "k3s"}

func newKey(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fixtures() (*corev1.ServiceAccount, *corev1.Pod, *corev1.Secret) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "ci", UID: "sa-uid"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job-1", Namespace: "ci", UID: "pod-uid"}, Spec: corev1.PodSpec{NodeName: "n1"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "builder-token", Namespace: "ci", UID: "secret-uid"}}
	return sa, pod, secret
}

func TestKeyIDIsStable(t *testing.T) {
	k := newKey(t)
	a, _ := KeyID(k.Public())
	b, _ := KeyID(k.Public())
	if a != b || len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Fatalf("kid %q %q", a, b)
	}
}

func TestBoundTokenRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", newKey(t)}, {"RS256", func() crypto.Signer { k, _ := rsa.GenerateKey(rand.Reader, 2048); return k }()}} {
		t.Run(tc.name, func(t *testing.T) {
			sa, pod, _ := fixtures()
			iss, err := NewIssuerFromKey(tc.key, issuerURL)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := iss.Issue(BoundClaims(sa, Binding{Pod: pod, NodeName: "n1"}, apiAuds, 3600, nil, time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			p, _ := parse(tok)
			if p.header.Alg != tc.name {
				t.Fatalf("alg %q", p.header.Alg)
			}
			var raw map[string]any
			_ = json.Unmarshal(p.payload, &raw)
			for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "kubernetes.io"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("claim %s missing: %s", k, p.payload)
				}
			}
			client := fake.NewSimpleClientset(sa, pod)
			a := NewAuthenticator([]string{issuerURL}, []crypto.PublicKey{tc.key.Public()}, apiAuds, ClientGetter(client))
			resp, ok, err := a.AuthenticateToken(context.Background(), tok)
			if err != nil || !ok {
				t.Fatalf("authenticate: %v %v", ok, err)
			}
			u := resp.User
			if u.GetName() != "system:serviceaccount:ci:builder" || u.GetUID() != "sa-uid" {
				t.Errorf("user %q uid %q", u.GetName(), u.GetUID())
			}
			if g := u.GetGroups(); len(g) != 2 || g[0] != "system:serviceaccounts" || g[1] != "system:serviceaccounts:ci" {
				t.Errorf("groups %v", g)
			}
			ex := u.GetExtra()
			if ex["authentication.kubernetes.io/pod-name"][0] != "job-1" || ex["authentication.kubernetes.io/pod-uid"][0] != "pod-uid" ||
				!strings.HasPrefix(ex["authentication.kubernetes.io/credential-id"][0], "JTI=") || ex["authentication.kubernetes.io/node-name"][0] != "n1" {
				t.Errorf("extra %v", ex)
			}
			if len(resp.Audiences) != 2 {
				t.Errorf("audiences %v", resp.Audiences)
			}
		})
	}
}

func TestBoundTokenRejected(t *testing.T) {
	key := newKey(t)
	iss, _ := NewIssuerFromKey(key, issuerURL)
	sa, pod, secret := fixtures()
	now := time.Now()
	issue := func(c *Claims) string {
		tok, err := iss.Issue(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, _ := NewIssuerFromKey(newKey(t), issuerURL)
	otherTok, _ := other.Issue(BoundClaims(sa, Binding{}, apiAuds, 3600, nil, now))
	staleUID := sa.DeepCopy()
	staleUID.UID = "old"
	for _, tc := range []struct {
		name    string
		token   string
		objects []any
		ctxAuds authenticator.Audiences
		want    string
	}{
		{"expired", issue(BoundClaims(sa, Binding{}, apiAuds, 600, nil, now.Add(-time.Hour))), nil, nil, "has expired"},
		{"not yet valid", issue(BoundClaims(sa, Binding{}, apiAuds, 600, nil, now.Add(time.Hour))), nil, nil, "not valid yet"},
		{"wrong audience", issue(BoundClaims(sa, Binding{}, []string{"vault"}, 600, nil, now)), nil, nil, "token audiences"},
		{"request audience", issue(BoundClaims(sa, Binding{}, apiAuds, 600, nil, now)), nil, authenticator.Audiences{"vault"}, "token audiences"},
		{"wrong key", otherTok, nil, nil, "signature is invalid"},
		{"deleted service account", issue(BoundClaims(sa, Binding{}, apiAuds, 600, nil, now)), []any{}, nil, "service account ci/builder has been deleted"},
		{"recreated service account", issue(BoundClaims(staleUID, Binding{}, apiAuds, 600, nil, now)), nil, nil, "does not match claim"},
		{"deleted pod", issue(BoundClaims(sa, Binding{Pod: pod}, apiAuds, 600, nil, now)), []any{sa}, nil, "pod ci/job-1 has been deleted"},
		{"deleted secret", issue(BoundClaims(sa, Binding{Secret: secret}, apiAuds, 600, nil, now)), []any{sa}, nil, "secret ci/builder-token has been deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []any{sa, pod, secret}
			if tc.objects != nil {
				objs = tc.objects
			}
			client := fake.NewSimpleClientset()
			for _, o := range objs {
				switch o := o.(type) {
				case *corev1.ServiceAccount:
					_ = client.Tracker().Add(o)
				case *corev1.Pod:
					_ = client.Tracker().Add(o)
				case *corev1.Secret:
					_ = client.Tracker().Add(o)
				}
			}
			a := NewAuthenticator([]string{issuerURL}, []crypto.PublicKey{key.Public()}, apiAuds, ClientGetter(client))
			ctx := context.Background()
			if tc.ctxAuds != nil {
				ctx = authenticator.WithAudiences(ctx, tc.ctxAuds)
			}
			_, ok, err := a.AuthenticateToken(ctx, tc.token)
			if ok || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got ok=%v err=%v, want error containing %q", ok, err, tc.want)
			}
		})
	}
}

func TestForeignTokensAreLeftAlone(t *testing.T) {
	key := newKey(t)
	a := NewAuthenticator([]string{issuerURL}, []crypto.PublicKey{key.Public()}, apiAuds, nil)
	foreign, _ := NewIssuerFromKey(newKey(t), "https://accounts.example.com")
	sa, _, _ := fixtures()
	tok, _ := foreign.Issue(BoundClaims(sa, Binding{}, apiAuds, 600, nil, time.Now()))
	for _, s := range []string{"abc", "a.b.c", tok} {
		if _, ok, err := a.AuthenticateToken(context.Background(), s); ok || err != nil {
			t.Errorf("%q: ok=%v err=%v", s, ok, err)
		}
	}
}

func TestLegacyToken(t *testing.T) {
	key := newKey(t)
	iss, _ := NewIssuerFromKey(key, issuerURL)
	sa, _, secret := fixtures()
	tok, err := iss.Issue(LegacyClaims(sa, secret))
	if err != nil {
		t.Fatal(err)
	}
	s := secret.DeepCopy()
	s.Data = map[string][]byte{"token": []byte(tok)}
	a := NewAuthenticator([]string{issuerURL}, []crypto.PublicKey{key.Public()}, apiAuds, ClientGetter(fake.NewSimpleClientset(sa, s)))
	resp, ok, err := a.AuthenticateToken(context.Background(), tok)
	if !ok || err != nil || resp.User.GetName() != "system:serviceaccount:ci:builder" {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	a = NewAuthenticator([]string{issuerURL}, []crypto.PublicKey{key.Public()}, apiAuds, ClientGetter(fake.NewSimpleClientset(sa)))
	if _, ok, err := a.AuthenticateToken(context.Background(), tok); ok || err == nil {
		t.Fatalf("token of a deleted secret accepted")
	}
}
