package registries

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/containerd/remotes/docker"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/skiff-k8s/skiff/pkg/pki"
)

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"mirrors: [", "error converting YAML to JSON"},
		{"mirrors:\n  docker.io:\n    endpoints: [https://m]\n", `unknown field "endpoints"`},
		{"mirrors:\n  docker.io:\n    endpoint: ['ftp://m']\n", `mirrors["docker.io"].endpoint[0]: invalid URL "ftp://m": scheme must be http or https`},
		{"mirrors:\n  docker.io:\n    endpoint: [https://m, 'https://']\n", `mirrors["docker.io"].endpoint[1]: invalid URL "https://": no host`},
		{"mirrors:\n  docker.io:\n    endpoint: ['https://u:p@m']\n", `mirrors["docker.io"].endpoint[0]: invalid URL "https://u:p@m": only a scheme, a host and a path are allowed`},
		{"mirrors:\n  docker.io:\n    endpoint: [https://m]\n    rewrite:\n      '^(': x\n", `mirrors["docker.io"].rewrite["^("]: error parsing regexp`},
		{"configs:\n  m:5000:\n    tls:\n      ca_file: /nonexistent/ca.pem\n", `configs["m:5000"].tls.ca_file: open /nonexistent/ca.pem: no such file or directory`},
		{"configs:\n  m:\n    tls:\n      ca_file: " + notPEM + "\n", `configs["m"].tls.ca_file: no PEM certificate in ` + notPEM},
		{"configs:\n  m:\n    tls:\n      key_file: /k.pem\n", `configs["m"].tls.cert_file: required with key_file`},
		{"configs:\n  m:\n    auth:\n      auth: '!!'\n", `configs["m"].auth.auth: invalid registry auth`},
		{"configs:\n  '*':\n    auth:\n      username: u\n", `configs["*"].auth: credentials need a registry host, not "*"`},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err != nil {
		t.Errorf("a missing file is no configuration: %v", err)
	}
	bad := filepath.Join(dir, FileName)
	if err := os.WriteFile(bad, []byte("mirrors:\n  x:\n    endpoint: ['ftp://m']\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.HasPrefix(err.Error(), bad+`: mirrors["x"].endpoint[0]`) {
		t.Errorf("Load: %v", err)
	}
}

func TestHosts(t *testing.T) {
	r, err := Parse([]byte(`
mirrors:
  docker.io:
    endpoint:
      - mirror.example.com:5000
      - http://mirror.example.com:5000/
      - https://mirror.example.com:5000/v2
      - https://proxy.example.com/v2/dockerhub
      - https://registry-1.docker.io
  "*":
    endpoint: [catchall.example.com]
  localhost:5000:
    endpoint: [localhost:5001]
configs:
  mirror.example.com:5000:
    auth: {username: m, password: mp}
  docker.io:
    auth: {username: d, password: dp}
`))
	if err != nil {
		t.Fatal(err)
	}
	type host struct{ url, creds string }
	describe := func(hosts []docker.RegistryHost) []host {
		var out []host
		for _, h := range hosts {
			// The authorizer answers a Basic challenge with the endpoint's credentials.
			req, _ := http.NewRequest(http.MethodGet, h.Scheme+"://"+h.Host+h.Path+"/", nil)
			resp := &http.Response{StatusCode: http.StatusUnauthorized, Request: req,
				Header: http.Header{"Www-Authenticate": {`Basic realm="x"`}}}
			creds := "none"
			if h.Authorizer.AddResponses(context.Background(), []*http.Response{resp}) == nil {
				_ = h.Authorizer.Authorize(context.Background(), req)
				if u, p, ok := req.BasicAuth(); ok {
					creds = u + ":" + p
				}
			}
			out = append(out, host{h.Scheme + "://" + h.Host + h.Path, creds})
		}
		return out
	}
	for _, tc := range []struct {
		host string
		pull *AuthConfig
		want []host
	}{
		// Mirrors in order (duplicates once), the last one being the
		// default endpoint is tried once, as the default.
		{host: "docker.io", want: []host{
			{"https://mirror.example.com:5000/v2", "m:mp"},
			{"http://mirror.example.com:5000/v2", "m:mp"},
			{"https://proxy.example.com/v2/dockerhub", "none"},
			{"https://registry-1.docker.io/v2", "d:dp"},
		}},
		// Pull-secret credentials win for the image's registry only.
		{host: "docker.io", pull: &AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("s:sp"))}, want: []host{
			{"https://mirror.example.com:5000/v2", "m:mp"},
			{"http://mirror.example.com:5000/v2", "m:mp"},
			{"https://proxy.example.com/v2/dockerhub", "none"},
			{"https://registry-1.docker.io/v2", "s:sp"},
		}},
		{host: "quay.io", want: []host{{"https://catchall.example.com/v2", "none"}, {"https://quay.io/v2", "none"}}},
		{host: "localhost:5000", want: []host{{"https://localhost:5001/v2", "none"}, {"https://localhost:5000/v2", "none"}}},
	} {
		hosts, err := r.Hosts(tc.pull)(tc.host)
		if err != nil {
			t.Fatal(err)
		}
		got := describe(hosts)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s (pull secret %v):\n got %v\nwant %v", tc.host, tc.pull != nil, got, tc.want)
		}
		// Only the default endpoint may be pushed to.
		for i, h := range hosts {
			if push := h.Capabilities.Has(docker.HostCapabilityPush); push != (i == len(hosts)-1) {
				t.Errorf("%s: endpoint %d push capability %v", tc.host, i, push)
			}
		}
	}
	// No file: the registry's own endpoint.
	hosts, _ := (&Registries{}).Hosts(nil)("ghcr.io")
	if got := describe(hosts); fmt.Sprint(got) != fmt.Sprint([]host{{"https://ghcr.io/v2", "none"}}) {
		t.Errorf("no configuration: %v", got)
	}
}

func TestCredentials(t *testing.T) {
	for _, tc := range []struct {
		auth         *AuthConfig
		user, secret string
	}{
		{auth: nil},
		{auth: &AuthConfig{Username: "u", Password: "p"}, user: "u", secret: "p"},
		{auth: &AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("u2:p:2"))}, user: "u2", secret: "p:2"},
		{auth: &AuthConfig{IdentityToken: "tok", Username: "ignored"}, secret: "tok"},
		{auth: &AuthConfig{RegistryToken: "bearer"}, secret: "bearer"},
	} {
		u, s, err := tc.auth.Credentials()
		if err != nil || u != tc.user || s != tc.secret {
			t.Errorf("%+v: %q %q %v", tc.auth, u, s, err)
		}
	}
	if _, _, err := (&AuthConfig{Auth: "!!"}).Credentials(); err == nil {
		t.Error("bad base64 accepted")
	}
}

// testRegistry is go-containerregistry's registry over TLS behind basic
// auth, recording the paths asked for.
type testRegistry struct {
	srv    *httptest.Server
	host   string
	caFile string
	mu     sync.Mutex
	paths  []string
}

const regUser, regPass = "puller", "s3cret"

func startRegistry(t *testing.T) *testRegistry {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr := &testRegistry{}
	// A test CA and a serving certificate for localhost and 127.0.0.1.
	b, err := pki.Ensure(t.TempDir(), pki.Names{DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(b.ServingCert, b.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	tr.caFile = b.ServerCA
	tr.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.paths = append(tr.paths, r.Method+" "+r.URL.Path)
		tr.mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != regUser || p != regPass {
			w.Header().Set("WWW-Authenticate", `Basic realm="skiff-test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	tr.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	tr.srv.StartTLS()
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "https://")
	return tr
}

// push uploads a one-blob image as repo:tag and returns its manifest digest.
func (tr *testRegistry) push(t *testing.T, repo, tag string) string {
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(tr.caFile)
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	do := func(method, url, ctype string, body []byte) *http.Response {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.SetBasicAuth(regUser, regPass)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %s", method, url, resp.Status)
		}
		return resp
	}
	digest := func(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	resp := do(http.MethodPost, tr.srv.URL+"/v2/"+repo+"/blobs/uploads/", "", nil)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = tr.srv.URL + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	do(http.MethodPut, loc+sep+"digest="+digest(config), "application/octet-stream", config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
		"layers":        []any{},
	})
	do(http.MethodPut, tr.srv.URL+"/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", manifest)
	return digest(manifest)
}

// Resolving through the hosts against a real registry: a mirror with a
// rewrite, the file's TLS and credentials, and the pull secret's precedence.
func TestHostsAgainstRegistry(t *testing.T) {
	tr := startRegistry(t)
	want := tr.push(t, "skiff/app", "1")
	r, err := Parse([]byte(fmt.Sprintf(`
mirrors:
  mirror.invalid:
    endpoint: ["https://%[1]s"]
    rewrite:
      "^library/(.*)$": "skiff/$1"
configs:
  "%[1]s":
    auth: {username: %[2]s, password: %[3]s}
    tls: {ca_file: %[4]s}
  "localhost:%[5]s":
    auth: {username: %[2]s, password: wrong}
    tls: {ca_file: %[4]s}
`, tr.host, regUser, regPass, tr.caFile, tr.srv.URL[strings.LastIndex(tr.srv.URL, ":")+1:])))
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(ref string, pull *AuthConfig) (string, error) {
		_, desc, err := docker.NewResolver(docker.ResolverOptions{Hosts: r.Hosts(pull)}).Resolve(context.Background(), ref)
		return desc.Digest.String(), err
	}
	// Through the mirror, the repository rewritten; the default endpoint
	// (mirror.invalid, which does not resolve) is never needed.
	if got, err := resolve("mirror.invalid/library/app:1", nil); err != nil || got != want {
		t.Errorf("through the mirror: %s %v, want %s", got, err, want)
	}
	tr.mu.Lock()
	rewritten := strings.Contains(strings.Join(tr.paths, "\n"), "/v2/skiff/app/manifests/1")
	tr.mu.Unlock()
	if !rewritten {
		t.Errorf("rewrite not applied: %q", tr.paths)
	}
	// Directly, with the file's credentials.
	if got, err := resolve(tr.host+"/skiff/app:1", nil); err != nil || got != want {
		t.Errorf("direct: %s %v", got, err)
	}
	// localhost:<port> is the same server with the wrong password in the file.
	local := "localhost:" + tr.srv.URL[strings.LastIndex(tr.srv.URL, ":")+1:]
	if _, err := resolve(local+"/skiff/app:1", nil); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("wrong password: %v", err)
	}
	// A pull secret for the image's registry wins over the file.
	if got, err := resolve(local+"/skiff/app:1", &AuthConfig{Username: regUser, Password: regPass}); err != nil || got != want {
		t.Errorf("pull secret: %s %v", got, err)
	}
	// An explicit https endpoint without the CA: the server's certificate
	// is not trusted (a loopback registry named without a scheme would be
	// reached without verification, as containerd does).
	r, err = Parse([]byte(fmt.Sprintf("mirrors:\n  other.invalid:\n    endpoint: [%q]\n", "https://"+tr.host)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resolve("other.invalid/skiff/app:1", nil); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("untrusted certificate: %v", err)
	}
}
