// Package registries reads the node's registry configuration, k3s'
// registries.yaml (<data-dir>/agent/registries.yaml), and turns it into the
// endpoints containerd's resolver pulls from: a registry's mirror endpoints
// in order, then its default endpoint, each with its TLS settings and
// credentials.
//
//	mirrors:
//	  docker.io:
//	    endpoint: ["https://mirror.example.com:5000"]
//	    rewrite:
//	      "^library/(.*)": "dockerhub/$1"
//	configs:
//	  mirror.example.com:5000:
//	    auth: {username: puller, password: s3cret}
//	    tls: {ca_file: /etc/ssl/mirror-ca.pem}
//
// The semantics are k3s' (which writes containerd's hosts.toml from the same
// file): an endpoint without a scheme is https (a loopback host on a port
// other than 443 tries https and falls back to http); an endpoint path that
// is empty, "/" or "/v2" means /v2, any other path is used as is; rewrites
// apply to the mirror endpoints only, never to the default endpoint; the
// mirror "*" serves every registry that has no mirror entry of its own; a
// config applies to the endpoints on its host ("*" gives the TLS settings of
// hosts without a config, never credentials). Credentials from a pod's
// imagePullSecrets take precedence over the file's for the image's own
// registry host.
//
// The file is read once, when the agent starts: an invalid file (bad YAML,
// an unknown field, a bad endpoint URL or rewrite, an unreadable TLS file)
// fails the start with an error naming the field, as k3s fails to start on a
// registries.yaml it cannot parse.
package registries

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

// FileName is the file's name in <data-dir>/agent.
const FileName = "registries.yaml"

// File is registries.yaml as written.
type File struct {
	// Mirrors are keyed by registry host ("docker.io", "registry.example.com:5000", "*").
	Mirrors map[string]Mirror `json:"mirrors,omitempty"`
	// Configs are keyed by the host (and port) of an endpoint.
	Configs map[string]RegistryConfig `json:"configs,omitempty"`
}

// Mirror lists the endpoints that serve a registry, tried in order before
// the registry's default endpoint.
type Mirror struct {
	Endpoints []string `json:"endpoint,omitempty"`
	// Rewrites map a regular expression on the repository ("library/busybox")
	// to its replacement on the mirror ("dockerhub/$1").
	Rewrites map[string]string `json:"rewrite,omitempty"`
}

// RegistryConfig holds the credentials and TLS settings of a host.
type RegistryConfig struct {
	Auth *AuthConfig `json:"auth,omitempty"`
	TLS  *TLSConfig  `json:"tls,omitempty"`
}

// TLSConfig is how to reach a host over TLS.
type TLSConfig struct {
	CAFile             string `json:"ca_file,omitempty"`
	CertFile           string `json:"cert_file,omitempty"`
	KeyFile            string `json:"key_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// AuthConfig is a registry's credentials: in registries.yaml, or a docker
// config entry of an imagePullSecret.
type AuthConfig struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Auth is base64("username:password"), used when Username is empty.
	Auth string `json:"auth,omitempty"`
	// IdentityToken is a refresh token sent to the registry's token server.
	IdentityToken string `json:"identity_token,omitempty"`
	// RegistryToken is a bearer token (docker config entries only).
	RegistryToken string `json:"-"`
}

// Credentials are the username and secret containerd's authorizer sends (an
// identity token goes with no username).
func (a *AuthConfig) Credentials() (string, string, error) {
	if a == nil {
		return "", "", nil
	}
	switch {
	case a.IdentityToken != "":
		return "", a.IdentityToken, nil
	case a.Username != "":
		return a.Username, a.Password, nil
	case a.Auth != "":
		decoded, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return "", "", fmt.Errorf("invalid registry auth: %w", err)
		}
		user, pass, ok := strings.Cut(string(decoded), ":")
		if !ok {
			return "", "", errors.New("invalid registry auth: no ':' in auth")
		}
		return user, strings.Trim(pass, "\x00"), nil
	case a.RegistryToken != "":
		// containerd's authorizer has no bearer-token-only mode: send it as
		// a refresh token, which token servers accept.
		return "", a.RegistryToken, nil
	}
	return "", "", nil
}

// Registries is a validated registries.yaml, ready for pulls. The zero
// value (no file) pulls every image from its registry's default endpoint.
type Registries struct {
	mirrors map[string]*mirror
	hosts   map[string]*hostConfig // by config key (host[:port] or "*")
	mu      sync.Mutex
	// transports are shared by every pull so that connections are reused:
	// one per TLS setting (a config's, the default, loopback's no-verify).
	transports map[*tls.Config]*http.Transport
}

type mirror struct {
	endpoints []*endpoint
}

// endpoint is one normalised mirror endpoint.
type endpoint struct {
	host     string // host[:port] to connect to
	registry string // the host its config is looked up by (docker.io for registry-1.docker.io)
	scheme   string
	path     string
	fallback bool // https first, plain http when the server does not speak TLS
	rewrites []rewrite
}

type rewrite struct {
	re   *regexp.Regexp
	repl string
}

type hostConfig struct {
	auth *AuthConfig
	tls  *tls.Config // nil: no TLS settings
}

// Load reads and validates path; a missing file is no configuration.
func Load(path string) (*Registries, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Registries{}, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Parse validates a registries.yaml and loads the TLS files it names.
func Parse(data []byte) (*Registries, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, err
	}
	return New(f)
}

// New validates f and loads the TLS files it names.
func New(f File) (*Registries, error) {
	r := &Registries{mirrors: map[string]*mirror{}, hosts: map[string]*hostConfig{}}
	for _, key := range sortedKeys(f.Configs) {
		c := f.Configs[key]
		field := fmt.Sprintf("configs[%q]", key)
		if key == "" {
			return nil, fmt.Errorf("%s: a registry host is required", field)
		}
		hc := &hostConfig{auth: c.Auth}
		if c.Auth != nil {
			if _, _, err := c.Auth.Credentials(); err != nil {
				return nil, fmt.Errorf("%s.auth.auth: %w", field, err)
			}
			if key == "*" {
				return nil, fmt.Errorf("%s.auth: credentials need a registry host, not \"*\"", field)
			}
		}
		if c.TLS != nil {
			tc, err := loadTLS(field+".tls", c.TLS)
			if err != nil {
				return nil, err
			}
			hc.tls = tc
		}
		r.hosts[key] = hc
	}
	for _, key := range sortedKeys(f.Mirrors) {
		m := f.Mirrors[key]
		field := fmt.Sprintf("mirrors[%q]", key)
		if key == "" {
			return nil, fmt.Errorf("%s: a registry host is required", field)
		}
		var rws []rewrite
		for _, expr := range sortedKeys(m.Rewrites) {
			re, err := regexp.Compile(expr)
			if err != nil {
				return nil, fmt.Errorf("%s.rewrite[%q]: %w", field, expr, err)
			}
			rws = append(rws, rewrite{re: re, repl: m.Rewrites[expr]})
		}
		mr := &mirror{}
		seen := map[string]bool{}
		for i, raw := range m.Endpoints {
			ep, err := parseEndpoint(raw)
			if err != nil {
				return nil, fmt.Errorf("%s.endpoint[%d]: %w", field, i, err)
			}
			if seen[ep.url()] {
				continue // k3s skips duplicates
			}
			seen[ep.url()] = true
			ep.rewrites = rws
			mr.endpoints = append(mr.endpoints, ep)
		}
		r.mirrors[key] = mr
	}
	return r, nil
}

func loadTLS(field string, c *TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // the user's explicit choice
	if c.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", field, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate in %s", field, c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.KeyFile != "" && c.CertFile == "" {
		return nil, fmt.Errorf("%s.cert_file: required with key_file", field)
	}
	if c.CertFile != "" {
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", field, err)
		}
		keyPEM := certPEM // containerd reads the key from the cert file when no key file is given
		if c.KeyFile != "" {
			if keyPEM, err = os.ReadFile(c.KeyFile); err != nil {
				return nil, fmt.Errorf("%s.key_file: %w", field, err)
			}
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", field, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// parseEndpoint normalises an endpoint as k3s and containerd do.
func parseEndpoint(raw string) (*endpoint, error) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid URL %q: no host", raw)
	}
	switch u.Scheme {
	case "", "http", "https":
	default:
		return nil, fmt.Errorf("invalid URL %q: scheme must be http or https", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid URL %q: only a scheme, a host and a path are allowed", raw)
	}
	ep := defaultEndpoint(u.Host)
	if u.Scheme != "" {
		ep.scheme, ep.fallback = u.Scheme, false
	}
	switch p := strings.TrimSuffix(u.Path, "/"); p {
	case "", "/v2":
	default:
		ep.path = p
	}
	return ep, nil
}

// defaultEndpoint is a registry host's own endpoint: https://<host>/v2
// (registry-1.docker.io for docker.io), and for a loopback host on a port
// other than 443 https falling back to http, as containerd does.
func defaultEndpoint(host string) *endpoint {
	ep := &endpoint{host: host, registry: host, scheme: "https", path: "/v2"}
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		ep.host, ep.registry = "registry-1.docker.io", "docker.io"
	}
	if isLocalhost(host) {
		switch _, port, _ := net.SplitHostPort(host); port {
		case "", "443":
		case "80":
			ep.scheme = "http"
		default:
			ep.fallback = true
		}
	}
	return ep
}

func (e *endpoint) url() string { return e.scheme + "://" + e.host + e.path }

func isLocalhost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
