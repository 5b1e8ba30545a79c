// Package registrytest serves a real image registry for tests: go-containerregistry's
// in-memory registry on loopback over TLS (a test CA's certificate for localhost and
// 127.0.0.1) behind basic auth, with a push of any v1.Image.
//
//	reg := registrytest.Start(t)
//	reg.Push(t, img, "skiff/app", "1")   // pullable as 127.0.0.1:<reg.Port>/skiff/app:1 with reg.CAFile
package registrytest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-k8s/skiff/pkg/pki"
)

// Registry is a running test registry.
type Registry struct {
	Server *httptest.Server
	// Host is 127.0.0.1:<Port>; localhost:<Port> reaches the same registry.
	Host, Port string
	// CAFile is the PEM file of the CA that signed the serving certificate.
	CAFile     string
	User, Pass string

	client *http.Client
	mu     sync.Mutex
	paths  []string
}

// Start runs a registry until the test ends.
func Start(t testing.TB) *Registry {
	t.Helper()
	b, err := pki.Ensure(t.TempDir(), pki.Names{DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(b.ServingCert, b.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	r := &Registry{CAFile: b.ServerCA, User: "puller", Pass: fmt.Sprintf("s3cret-%d", os.Getpid())}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.paths = append(r.paths, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		if u, p, ok := req.BasicAuth(); !ok || u != r.User || p != r.Pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="skiff-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		reg.ServeHTTP(w, req)
	}))
	r.Server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	r.Server.StartTLS()
	t.Cleanup(r.Server.Close)
	r.Host = strings.TrimPrefix(r.Server.URL, "https://")
	r.Port = r.Host[strings.LastIndex(r.Host, ":")+1:]
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(r.CAFile)
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("test CA %s: %v", r.CAFile, err)
	}
	r.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return r
}

// Paths are the requests served so far ("GET /v2/…").
func (r *Registry) Paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

func (r *Registry) do(t testing.TB, method, url, ctype string, body io.Reader) *http.Response {
	t.Helper()
	if !strings.HasPrefix(url, "https://") {
		url = r.Server.URL + url
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(r.User, r.Pass)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	return resp
}

func (r *Registry) uploadBlob(t testing.TB, repo, digest string, body io.Reader) {
	t.Helper()
	loc := r.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil).Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	r.do(t, http.MethodPut, loc+sep+"digest="+digest, "application/octet-stream", body)
}

// Push uploads img's layers, config and manifest as repo:tag.
func (r *Registry) Push(t testing.TB, img v1.Image, repo, tag string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		r.uploadBlob(t, repo, d.String(), rc)
		rc.Close()
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	r.uploadBlob(t, repo, cfgName.String(), bytes.NewReader(cfg))
	manifest, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	r.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, string(mt), bytes.NewReader(manifest))
}
