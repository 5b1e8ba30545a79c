package join

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"

	"github.com/skiff-k8s/skiff/pkg/pki"
)

// NodeGroup is the extra group of the server token's bootstrap identity, as
// kubeadm names its default node token's (system:bootstrappers:kubeadm:default-node-token).
const NodeGroup = "system:bootstrappers:skiff:default-node-token"

// serverTokenLabel marks the bootstrap-token Secret that holds the server's join
// token, so that a new --token revokes the old one.
const serverTokenLabel = "skiff.io/server-token"

// EnsureServerToken returns the server's join token and writes it (0600) to path.
// explicit is --token: any string, or a full token whose CA hash must be this
// server's. Without it the token already at path is kept, or a new bootstrap token
// is generated on first start. The CA hash is always the CA's at caFile.
func EnsureServerToken(path, caFile, explicit string) (Token, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return Token{}, fmt.Errorf("join token: %w", err)
	}
	hash := HashCA(caPEM)
	var password string
	switch {
	case explicit != "":
		t, err := ParseToken(explicit)
		if err != nil {
			return Token{}, fmt.Errorf("--token: %w", err)
		}
		if t.CAHash != "" && t.CAHash != hash {
			return Token{}, fmt.Errorf("--token: its CA hash %s does not match this server's CA (%s hashes to %s)", t.CAHash, caFile, hash)
		}
		password = t.Password
	default:
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			t, err := ParseToken(string(data))
			if err != nil {
				return Token{}, fmt.Errorf("%s: %w", path, err)
			}
			password = t.Password
		case errors.Is(err, os.ErrNotExist):
			if password, err = bootstraputil.GenerateBootstrapToken(); err != nil {
				return Token{}, fmt.Errorf("join token: %w", err)
			}
		default:
			return Token{}, err
		}
	}
	t := Token{CAHash: hash, Username: defaultUsername, Password: password}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Token{}, err
	}
	if err := pki.WriteFileAtomic(path, []byte(t.String()+"\n"), 0o600); err != nil {
		return Token{}, fmt.Errorf("write %s: %w", path, err)
	}
	return t, nil
}

// BootstrapSecret is the kube-system Secret through which the apiserver
// authenticates t's bootstrap token: usable for authentication only, with no
// expiry, in the groups system:bootstrappers and NodeGroup.
func BootstrapSecret(t Token) *corev1.Secret {
	id, secret, _ := splitBootstrapToken(t.BootstrapToken())
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      bootstraputil.BootstrapTokenSecretName(id),
			Namespace: metav1.NamespaceSystem,
			Labels:    map[string]string{serverTokenLabel: "true"},
		},
		Type: bootstrapapi.SecretTypeBootstrapToken,
		StringData: map[string]string{
			bootstrapapi.BootstrapTokenIDKey:               id,
			bootstrapapi.BootstrapTokenSecretKey:           secret,
			bootstrapapi.BootstrapTokenDescriptionKey:      "The join token of skiff server (<data-dir>/server/token).",
			bootstrapapi.BootstrapTokenUsageAuthentication: "true",
			bootstrapapi.BootstrapTokenExtraGroupsKey:      NodeGroup,
		},
	}
}

func splitBootstrapToken(s string) (id, secret string, ok bool) {
	if !bootstraputil.IsValidBootstrapToken(s) {
		return "", "", false
	}
	return s[:6], s[7:], true
}

// EnsureBootstrapSecret writes t's bootstrap-token Secret and deletes the Secret
// of an earlier server token, which a new --token revokes.
func EnsureBootstrapSecret(ctx context.Context, c kubernetes.Interface, t Token) error {
	want := BootstrapSecret(t)
	secrets := c.CoreV1().Secrets(metav1.NamespaceSystem)
	old, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: serverTokenLabel + "=true"})
	if err != nil {
		return err
	}
	for _, s := range old.Items {
		if s.Name != want.Name {
			if err := secrets.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	cur, err := secrets.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = secrets.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if cur.Type == want.Type && sameData(cur.Data, want.StringData) && cur.Labels[serverTokenLabel] == "true" {
		return nil
	}
	if cur.Type != want.Type {
		// The type is immutable: replace the Secret.
		if err := secrets.Delete(ctx, cur.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		_, err = secrets.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	cur.Data, cur.StringData = nil, want.StringData
	if cur.Labels == nil {
		cur.Labels = map[string]string{}
	}
	cur.Labels[serverTokenLabel] = "true"
	_, err = secrets.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

func sameData(have map[string][]byte, want map[string]string) bool {
	if len(have) != len(want) {
		return false
	}
	for k, v := range want {
		if string(have[k]) != v {
			return false
		}
	}
	return true
}
