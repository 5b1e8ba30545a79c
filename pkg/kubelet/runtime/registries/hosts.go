package registries

import (
	"crypto/tls"
	"net/http"
	"strings"

	"github.com/containerd/containerd/remotes/docker"
)

// Hosts returns the endpoints containerd's resolver pulls from, for each
// registry host: the mirror endpoints in order, then the registry's default
// endpoint. pull holds the credentials of a pod's imagePullSecrets for the
// image's registry (nil when none): they authenticate to that registry's own
// host in preference to the file's; every other endpoint uses the file's
// credentials for its host.
func (r *Registries) Hosts(pull *AuthConfig) docker.RegistryHosts {
	return func(host string) ([]docker.RegistryHost, error) {
		def := defaultEndpoint(host)
		var eps []*endpoint
		m := r.mirrors[host]
		if m == nil {
			m = r.mirrors["*"]
		}
		if m != nil {
			for i, ep := range m.endpoints {
				if i == len(m.endpoints)-1 && ep.url() == def.url() {
					def = ep // the last mirror is the default endpoint: tried once
					break
				}
				eps = append(eps, ep)
			}
		}
		out := make([]docker.RegistryHost, 0, len(eps)+1)
		for _, ep := range eps {
			out = append(out, r.registryHost(ep, host, pull, docker.HostCapabilityPull|docker.HostCapabilityResolve))
		}
		out = append(out, r.registryHost(def, host, pull, docker.HostCapabilityPull|docker.HostCapabilityResolve|docker.HostCapabilityPush))
		return out, nil
	}
}

func (r *Registries) registryHost(ep *endpoint, refHost string, pull *AuthConfig, caps docker.HostCapabilities) docker.RegistryHost {
	hc := r.config(ep)
	var rt http.RoundTripper = r.transport(ep, hc)
	if len(ep.rewrites) > 0 {
		rt = &rewriteTransport{next: rt, prefix: ep.path + "/", rewrites: ep.rewrites}
	}
	if ep.fallback {
		rt = docker.NewHTTPFallback(rt)
	}
	client := &http.Client{Transport: rt}
	auth := hc.auth
	if pull != nil && ep.registry == defaultEndpoint(refHost).registry {
		auth = pull
	}
	authorizer := docker.NewDockerAuthorizer(docker.WithAuthClient(client),
		docker.WithAuthCreds(func(string) (string, string, error) { return auth.Credentials() }))
	return docker.RegistryHost{
		Client:       client,
		Authorizer:   authorizer,
		Host:         ep.host,
		Scheme:       ep.scheme,
		Path:         ep.path,
		Capabilities: caps,
	}
}

// config is the file's config for an endpoint: by the host it connects to,
// then by its registry name (docker.io), then "*" for TLS settings only.
func (r *Registries) config(ep *endpoint) hostConfig {
	if hc, ok := r.hosts[ep.host]; ok {
		return *hc
	}
	if hc, ok := r.hosts[ep.registry]; ok {
		return *hc
	}
	if hc, ok := r.hosts["*"]; ok {
		return hostConfig{tls: hc.tls}
	}
	return hostConfig{}
}

var insecure = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback, as containerd does

func (r *Registries) transport(ep *endpoint, hc hostConfig) *http.Transport {
	tc := hc.tls
	if tc == nil && ep.fallback {
		// containerd skips verification for loopback registries on
		// ports where the protocol is ambiguous.
		tc = insecure
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.transports == nil {
		r.transports = map[*tls.Config]*http.Transport{}
	}
	t, ok := r.transports[tc]
	if !ok {
		t = http.DefaultTransport.(*http.Transport).Clone()
		if tc != nil {
			t.TLSClientConfig = tc
		}
		r.transports[tc] = t
	}
	return t
}

// rewriteTransport rewrites the repository in a mirror's request paths
// (<prefix><repository>/manifests/…, …/blobs/…, …/tags/list): the first
// rewrite whose expression matches the repository applies.
type rewriteTransport struct {
	next     http.RoundTripper
	prefix   string
	rewrites []rewrite
}

func (t *rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rest, ok := strings.CutPrefix(req.URL.Path, t.prefix)
	if !ok {
		return t.next.RoundTrip(req)
	}
	i := -1
	for _, sep := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if j := strings.LastIndex(rest, sep); j > i {
			i = j
		}
	}
	if i <= 0 {
		return t.next.RoundTrip(req)
	}
	repo := rest[:i]
	for _, rw := range t.rewrites {
		if !rw.re.MatchString(repo) {
			continue
		}
		out := req.Clone(req.Context())
		out.URL.Path = t.prefix + rw.re.ReplaceAllString(repo, rw.repl) + rest[i:]
		out.URL.RawPath = ""
		return t.next.RoundTrip(out)
	}
	return t.next.RoundTrip(req)
}
