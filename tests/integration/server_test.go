package integration

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
)

// anonymousClient trusts the server CA but presents no credentials.
func anonymousClient(t *testing.T) *http.Client {
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(srv.DataDir, "server", "tls", "server-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func TestVersion(t *testing.T) {
	body, err := srv.Client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctxT(t)).Raw()
	if err != nil {
		t.Fatal(err)
	}
	var v version.Info
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Major != "1" || v.Minor != "37" || !strings.HasPrefix(v.GitVersion, "v1.37.") || !strings.Contains(v.GitVersion, "skiff") {
		t.Fatalf("version = %+v, want 1.37 with a skiff suffix", v)
	}
}

func TestAnonymousOnlyHealthAndVersion(t *testing.T) {
	c := anonymousClient(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", srv.Port)
	for _, p := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		resp, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("anonymous GET %s = %d, want 200", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/api/v1/namespaces", "/api/v1/namespaces/default/secrets", "/apis", "/metrics"} {
		resp, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("anonymous GET %s = %d, want 403", p, resp.StatusCode)
		}
	}
	// An anonymous write is refused.
	resp, err := c.Post(base+"/api/v1/namespaces", "application/json", strings.NewReader(`{"metadata":{"name":"anon"}}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous POST = %d, want 403", resp.StatusCode)
	}
	// A bad bearer token is a 401, not a fall-back to anonymous.
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad token GET /healthz = %d, want 401", resp.StatusCode)
	}
}

func TestSystemNamespaces(t *testing.T) {
	ctx := ctxT(t)
	eventually(t, 30*time.Second, func() error {
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			n, err := srv.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if n.Status.Phase != "Active" || n.Labels["kubernetes.io/metadata.name"] != ns {
				return fmt.Errorf("namespace %s: phase %q labels %v", ns, n.Status.Phase, n.Labels)
			}
		}
		return nil
	})
}

func TestKeyFilesArePrivate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(srv.DataDir, "server", "tls", "*.key"))
	files = append(files, filepath.Join(srv.DataDir, "server", "cred", "admin.kubeconfig"), srv.Kubeconfig)
	if len(files) < 5 {
		t.Fatalf("expected key files, found %v", files)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 600", f, st.Mode().Perm())
		}
	}
}
