package registries

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/remotes/docker"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/registries/registrytest"
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

// Resolving through the hosts against a real registry: a mirror with a
// rewrite, the file's TLS and credentials, and the pull secret's precedence.
func TestHostsAgainstRegistry(t *testing.T) {
	tr := registrytest.Start(t)
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Architecture: "amd64", OS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	tr.Push(t, img, "skiff/app", "1")
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	want := d.String()
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
`, tr.Host, tr.User, tr.Pass, tr.CAFile, tr.Port)))
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
	if paths := tr.Paths(); !strings.Contains(strings.Join(paths, "\n"), "/v2/skiff/app/manifests/1") {
		t.Errorf("rewrite not applied: %q", paths)
	}
	// Directly, with the file's credentials.
	if got, err := resolve(tr.Host+"/skiff/app:1", nil); err != nil || got != want {
		t.Errorf("direct: %s %v", got, err)
	}
	// localhost:<port> is the same server with the wrong password in the file.
	local := "localhost:" + tr.Port
	if _, err := resolve(local+"/skiff/app:1", nil); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("wrong password: %v", err)
	}
	// A pull secret for the image's registry wins over the file.
	if got, err := resolve(local+"/skiff/app:1", &AuthConfig{Username: tr.User, Password: tr.Pass}); err != nil || got != want {
		t.Errorf("pull secret: %s %v", got, err)
	}
	// An explicit https endpoint without the CA: the server's certificate
	// is not trusted (a loopback registry named without a scheme would be
	// reached without verification, as containerd does).
	r, err = Parse([]byte(fmt.Sprintf("mirrors:\n  other.invalid:\n    endpoint: [%q]\n", "https://"+tr.Host)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resolve("other.invalid/skiff/app:1", nil); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("untrusted certificate: %v", err)
	}
}
