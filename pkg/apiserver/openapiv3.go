package apiserver

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	restful "github.com/emicklei/go-restful/v3"
	"k8s.io/apiserver/pkg/server/mux"
	"k8s.io/apiserver/pkg/server/routes"
	"k8s.io/klog/v2"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/cached"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/common/restfuladapter"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// lazyOpenAPIV3 serves /openapi/v3 for the built-in resources without keeping
// every group version's document in memory, which upstream's server does (about
// 24 MB of a 75 MB idle heap). A group version's document is built when asked
// for, with upstream's builder and handler (routes.OpenAPI, handler3: same
// bytes, ETags, hash redirects and protobuf), kept while it is in use and
// dropped after keepBuilt. Discovery lists every group version with the hash of
// its document; the hashes are computed once, one group version at a time, as
// the documents are fixed for the life of the process.
type lazyOpenAPIV3 struct {
	config   *common.OpenAPIV3Config
	services map[string]*restful.WebService // "apis/apps/v1" → its routes

	mu        sync.Mutex
	discovery []byte // JSON, built on first use
	etag      string
	built     map[string]*builtGroupVersion
}

type builtGroupVersion struct {
	handler  http.Handler
	lastUsed time.Time
}

// keepBuilt is how long a built document stays after its last request.
const keepBuilt = 2 * time.Minute

// installLazyOpenAPIV2 serves /openapi/v2 for the built-in resources as
// upstream's routes.OpenAPI.InstallV2 does, but builds the document (9 MB of
// heap, and its JSON) on the first request instead of at start: the aggregator
// asks for it only when a client does, and few clients still read v2.
func installLazyOpenAPIV2(config *common.Config, container *restful.Container, m *mux.PathRecorderMux) *handler.OpenAPIService {
	build := cached.Func(func() (*spec.Swagger, string, error) {
		s, err := builder.BuildOpenAPISpecFromRoutes(restfuladapter.AdaptWebServices(container.RegisteredWebServices()), config)
		if err != nil {
			return nil, "", err
		}
		s.Definitions = handler.PruneDefaults(s.Definitions)
		return s, "built-in", nil
	})
	svc := handler.NewOpenAPIServiceLazy(cached.Once(build))
	svc.RegisterOpenAPIVersionedService("/openapi/v2", m)
	return svc
}

// installLazyOpenAPIV3 serves the OpenAPI v3 documents of the web services in
// container under /openapi/v3 on m. It must run once every API is installed.
func installLazyOpenAPIV3(config *common.OpenAPIV3Config, container *restful.Container, m *mux.PathRecorderMux) *lazyOpenAPIV3 {
	l := &lazyOpenAPIV3{config: config, services: map[string]*restful.WebService{}, built: map[string]*builtGroupVersion{}}
	for _, ws := range container.RegisteredWebServices() {
		l.services[strings.TrimPrefix(ws.RootPath(), "/")] = ws
	}
	m.Handle("/openapi/v3", http.HandlerFunc(l.serveDiscovery))
	m.HandlePrefix("/openapi/v3/", http.HandlerFunc(l.serveGroupVersion))
	return l
}

// build returns the handler serving one group version's document, as
// upstream's routes.OpenAPI.InstallV3 builds it for a server holding only that
// group version.
func (l *lazyOpenAPIV3) build(gv string) http.Handler {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for k, b := range l.built {
		if now.Sub(b.lastUsed) > keepBuilt {
			delete(l.built, k)
		}
	}
	if b, ok := l.built[gv]; ok {
		b.lastUsed = now
		return b.handler
	}
	ws, ok := l.services[gv]
	if !ok {
		return nil
	}
	c := restful.NewContainer()
	c.Add(ws)
	m := mux.NewPathRecorderMux("openapi-v3-" + gv)
	routes.OpenAPI{V3Config: l.config}.InstallV3(c, m)
	l.built[gv] = &builtGroupVersion{handler: m, lastUsed: now}
	return m
}

// forget drops a document built only to hash it.
func (l *lazyOpenAPIV3) forget(gv string) {
	l.mu.Lock()
	delete(l.built, gv)
	l.mu.Unlock()
}

func (l *lazyOpenAPIV3) serveGroupVersion(w http.ResponseWriter, r *http.Request) {
	gv := strings.TrimPrefix(r.URL.Path, "/openapi/v3/")
	h := l.build(gv)
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h.ServeHTTP(w, r)
}

func (l *lazyOpenAPIV3) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	body, etag, err := l.discoveryDocument()
	if err != nil {
		klog.ErrorS(err, "Serving OpenAPI v3 discovery")
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Etag", strconv.Quote(etag))
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, "/openapi/v3", time.Time{}, bytes.NewReader(body))
}

// discoveryDocument lists every group version with its document's hash, in
// handler3's format, building and dropping the documents one at a time.
func (l *lazyOpenAPIV3) discoveryDocument() ([]byte, string, error) {
	l.mu.Lock()
	if l.discovery != nil {
		defer l.mu.Unlock()
		return l.discovery, l.etag, nil
	}
	gvs := make([]string, 0, len(l.services))
	for gv := range l.services {
		gvs = append(gvs, gv)
	}
	l.mu.Unlock()
	sort.Strings(gvs)
	doc := handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}
	for _, gv := range gvs {
		url, err := l.hashedURL(gv)
		if err != nil {
			return nil, "", err
		}
		doc.Paths[gv] = handler3.OpenAPIV3DiscoveryGroupVersion{ServerRelativeURL: url}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.discovery, l.etag = body, fmt.Sprintf("%X", sha512.Sum512(body))
	return l.discovery, l.etag, nil
}

// hashedURL is the discovery URL of one group version's document, as the
// document's own handler lists it.
func (l *lazyOpenAPIV3) hashedURL(gv string) (string, error) {
	h := l.build(gv)
	defer l.forget(gv)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi/v3", nil))
	if rec.Code != http.StatusOK {
		return "", fmt.Errorf("openapi v3 discovery of %s: status %d", gv, rec.Code)
	}
	var one handler3.OpenAPIV3Discovery
	if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil {
		return "", fmt.Errorf("openapi v3 discovery of %s: %w", gv, err)
	}
	p, ok := one.Paths[gv]
	if !ok {
		return "", fmt.Errorf("openapi v3 discovery of %s: no document built", gv)
	}
	return p.ServerRelativeURL, nil
}
