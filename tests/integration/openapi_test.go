package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// openAPIGet fetches path from the shared server with the admin's credentials,
// without following redirects.
func openAPIGet(t *testing.T, path, accept string, header http.Header) *http.Response {
	t.Helper()
	tr, err := rest.TransportFor(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, srv.Config.Host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The built-in resources' OpenAPI v3 documents are built on demand (see
// pkg/apiserver/openapiv3.go); clients must see what upstream serves: discovery
// with hashed URLs, immutable caching under the right hash, a redirect from a
// stale one, JSON and protobuf.
func TestOpenAPIV3(t *testing.T) {
	resp := openAPIGet(t, "/openapi/v3", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi/v3: %s", resp.Status)
	}
	var disc struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil {
		t.Fatal(err)
	}
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/apiextensions.k8s.io/v1", "apis/apiregistration.k8s.io/v1"} {
		if _, ok := disc.Paths[gv]; !ok {
			t.Errorf("/openapi/v3 does not list %s", gv)
		}
	}
	apps := disc.Paths["apis/apps/v1"].ServerRelativeURL
	u, err := url.Parse(apps)
	if err != nil || u.Query().Get("hash") == "" {
		t.Fatalf("apps/v1 URL %q has no hash", apps)
	}
	hash := u.Query().Get("hash")

	resp = openAPIGet(t, apps, "application/json", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", apps, resp.Status)
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, immutable" {
		t.Errorf("Cache-Control = %q, want public, immutable", got)
	}
	if got := resp.Header.Get("Etag"); got != `"`+hash+`"` {
		t.Errorf("Etag = %s, want the discovery hash %q", got, hash)
	}
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]; !ok {
		t.Error("apps/v1 document has no io.k8s.api.apps.v1.Deployment schema")
	}
	if _, ok := doc.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]; !ok {
		t.Error("apps/v1 document has no deployments/scale path")
	}

	// A stale hash is redirected to the current one, as upstream does.
	resp = openAPIGet(t, "/openapi/v3/apis/apps/v1?hash=0123", "application/json", nil)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != apps {
		t.Errorf("stale hash: %s Location %q, want 301 to %q", resp.Status, resp.Header.Get("Location"), apps)
	}
	// Protobuf, as kubectl may ask.
	resp = openAPIGet(t, apps, "application/com.github.proto-openapi.spec.v3@v1.0+protobuf", nil)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.Contains(ct, "protobuf") {
		t.Errorf("protobuf: %s, Content-Type %q", resp.Status, ct)
	}
	if b, _ := io.ReadAll(resp.Body); len(b) < 1000 {
		t.Errorf("protobuf document is %d bytes", len(b))
	}
	// A group version nobody serves.
	if resp := openAPIGet(t, "/openapi/v3/apis/nope.example.com/v1", "application/json", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown group version: %s, want 404", resp.Status)
	}
	// kubectl explain reads the v3 documents.
	out := srv.Kubectl(t, "explain", "deployment.spec.strategy.rollingUpdate")
	if !strings.Contains(out, "maxSurge") {
		t.Errorf("kubectl explain: %s", out)
	}
}

// /openapi/v2 is built on its first request and then served with an ETag that
// answers conditional requests.
func TestOpenAPIV2(t *testing.T) {
	resp := openAPIGet(t, "/openapi/v2", "application/json", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi/v2: %s", resp.Status)
	}
	var doc struct {
		Definitions map[string]json.RawMessage `json:"definitions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"io.k8s.api.apps.v1.Deployment", "io.k8s.api.core.v1.Pod", "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"} {
		if _, ok := doc.Definitions[d]; !ok {
			t.Errorf("/openapi/v2 has no %s", d)
		}
	}
	etag := resp.Header.Get("Etag")
	if etag == "" {
		t.Fatal("/openapi/v2 has no Etag")
	}
	resp = openAPIGet(t, "/openapi/v2", "application/json", http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %s, want 304", resp.Status)
	}
}
