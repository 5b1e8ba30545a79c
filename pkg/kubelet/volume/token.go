package volume

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// defaultTokenSeconds is a projected token's lifetime when the pod sets none.
const defaultTokenSeconds = 3600

type tokenKey struct {
	uid      types.UID
	sa       string
	audience string
	seconds  int64
}

type cachedToken struct {
	token   string
	issued  time.Time
	expires time.Time
}

// stale is upstream's token manager rule: renew past 80% of the lifetime or after 24h.
func (c *cachedToken) stale(now time.Time) bool {
	ttl := c.expires.Sub(c.issued)
	return now.After(c.issued.Add(ttl*8/10)) || now.After(c.issued.Add(24*time.Hour))
}

// now is replaced by tests to age tokens.
var now = time.Now

// token returns a service-account token bound to pod, from the TokenRequest API,
// reusing a cached one until it is stale.
func (m *Manager) token(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	seconds := int64(defaultTokenSeconds)
	if src.ExpirationSeconds != nil {
		seconds = *src.ExpirationSeconds
	}
	key := tokenKey{uid: pod.UID, sa: sa, audience: src.Audience, seconds: seconds}
	m.mu.Lock()
	c := m.tokens[key]
	m.mu.Unlock()
	if c != nil && !c.stale(now()) {
		return c.token, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &seconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tr, err := m.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		if c != nil && now().Before(c.expires) {
			// Keep serving the old, still valid token; the next refresh retries.
			return c.token, nil
		}
		return "", fmt.Errorf("failed to fetch token: %w", err)
	}
	issued := now()
	expires := tr.Status.ExpirationTimestamp.Time
	if expires.IsZero() {
		expires = issued.Add(time.Duration(seconds) * time.Second)
	}
	m.mu.Lock()
	if m.tokens == nil {
		m.tokens = map[tokenKey]*cachedToken{}
	}
	m.tokens[key] = &cachedToken{token: tr.Status.Token, issued: issued, expires: expires}
	m.mu.Unlock()
	return tr.Status.Token, nil
}

func (m *Manager) forgetTokens(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.tokens {
		if k.uid == uid {
			delete(m.tokens, k)
		}
	}
}
