package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// mastersGroup is the group whose members may do anything, as in the apiserver.
const mastersGroup = "system:masters"

func defaultAuthorize(user string, groups []string) bool {
	return user == APIServerUser || slices.Contains(groups, mastersGroup)
}

// authenticate lets /healthz through and requires, for everything else, a client
// certificate verified against the client CA (done by the TLS handshake) whose user
// Authorize accepts.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		leaf := r.TLS.VerifiedChains[0][0]
		user, groups := leaf.Subject.CommonName, leaf.Subject.Organization
		if !s.cfg.Authorize(user, groups) {
			verb, sub := requestAttributes(r)
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource(s)=[%s])", user, verb, sub), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requestAttributes names a request's verb and nodes subresource as upstream's kubelet
// authorizer does, for the 403 message.
func requestAttributes(r *http.Request) (verb, subresource string) {
	verb = "get"
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodDelete:
		verb = "delete"
	}
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/stats"):
		return verb, "stats"
	case strings.HasPrefix(p, "/metrics"):
		return verb, "metrics"
	case strings.HasPrefix(p, "/containerLogs"), strings.HasPrefix(p, "/logs"):
		return verb, "log"
	}
	return verb, "proxy"
}
