// Package sysctl knows the pod sysctls (spec.securityContext.sysctls) as
// upstream does: their names, which kernel namespace holds them, the "safe"
// ones every node allows, and the node's allowlist that admits a pod or
// rejects it with reason SysctlForbidden. The API server validates names with
// it and the kubelet admits pods with it.
package sysctl

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// MaxLength is the longest sysctl name.
const MaxLength = 253

const (
	segment = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
	// patternFmt is what an allowlist pattern matches: a name, or one
	// ending in "*" (kernel.msg*).
	patternFmt = "(" + segment + "[\\./])*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]"
)

var (
	// NameRegexp is what a sysctl name matches: segments joined by dots or
	// slashes (net.ipv4.conf.eth0/100.rp_filter).
	NameRegexp    = regexp.MustCompile("^(" + segment + "[\\./])*" + segment + "$")
	patternRegexp = regexp.MustCompile("^" + patternFmt + "$")
)

// IsValidName reports whether name is a valid sysctl name.
func IsValidName(name string) bool {
	return len(name) <= MaxLength && NameRegexp.MatchString(name)
}

// Normalize gives a sysctl name in the dotted form: a name whose first
// separator is a slash (net/ipv4/conf/eth0.100/rp_filter) has its slashes
// and dots swapped (net.ipv4.conf.eth0/100.rp_filter), as sysctl(8) reads it.
func Normalize(name string) string {
	i := strings.IndexAny(name, "./")
	if i < 0 || name[i] == '.' {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
}

// Namespace is the kernel namespace that holds a sysctl.
type Namespace string

const (
	IPCNamespace = Namespace("ipc")
	NetNamespace = Namespace("net")
	// Unknown is a sysctl not known to be namespaced: it is the host's.
	Unknown = Namespace("")
)

// NamespaceOf is the namespace holding the sysctl named name (in either
// form), Unknown if it is not known to be namespaced.
func NamespaceOf(name string) Namespace {
	name = Normalize(name)
	switch {
	case name == "kernel.sem",
		strings.HasPrefix(name, "kernel.shm"),
		strings.HasPrefix(name, "kernel.msg"),
		strings.HasPrefix(name, "fs.mqueue."):
		return IPCNamespace
	case strings.HasPrefix(name, "net."):
		return NetNamespace
	}
	return Unknown
}

// Safe are the sysctls every node allows: namespaced, and with no effect
// on other pods. Upstream drops some on kernels older than 4.6, which
// predate the eBPF skiff needs.
var Safe = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
}

// ForbiddenReason is the reason of a pod the allowlist rejects.
const ForbiddenReason = "SysctlForbidden"

// Allowlist is the sysctls a node allows pods to set: the safe ones and
// the kubelet's allowed unsafe ones (names, or prefixes ending in "*").
type Allowlist struct {
	names    map[string]Namespace
	prefixes map[string]Namespace
}

// NewAllowlist allows the safe sysctls and the unsafe ones patterns name;
// a pattern must be valid and namespaced.
func NewAllowlist(unsafe []string) (*Allowlist, error) {
	a := &Allowlist{names: map[string]Namespace{}, prefixes: map[string]Namespace{}}
	for _, p := range append(append([]string{}, Safe...), unsafe...) {
		if len(p) > MaxLength || !patternRegexp.MatchString(p) {
			return nil, fmt.Errorf("sysctl %q must have at most %d characters and match regex %s", p, MaxLength, patternFmt)
		}
		p = Normalize(p)
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			ns := NamespaceOf(prefix)
			if ns == Unknown {
				return nil, fmt.Errorf("the sysctls %q are not known to be namespaced", p)
			}
			a.prefixes[prefix] = ns
			continue
		}
		ns := NamespaceOf(p)
		if ns == Unknown {
			return nil, fmt.Errorf("the sysctl %q are not known to be namespaced", p)
		}
		a.names[p] = ns
	}
	return a, nil
}

// check returns why a pod may not set the sysctl, nil if it may: it must
// be allowed, and not in a namespace the pod shares with the host.
func (a *Allowlist) check(name string, hostNet, hostIPC bool) error {
	name = Normalize(name)
	ns, ok := a.names[name]
	if !ok {
		for p, pns := range a.prefixes {
			if strings.HasPrefix(name, p) {
				ns, ok = pns, true
				break
			}
		}
	}
	switch {
	case !ok:
		return fmt.Errorf("%q not allowlisted", name)
	case ns == IPCNamespace && hostIPC, ns == NetNamespace && hostNet:
		return fmt.Errorf("%q not allowed with host %s enabled", name, ns)
	}
	return nil
}

// Admit returns the message rejecting a pod that sets a sysctl the node
// does not allow (with ForbiddenReason), "" when it may run.
func (a *Allowlist) Admit(pod *corev1.Pod) string {
	sc := pod.Spec.SecurityContext
	if sc == nil {
		return ""
	}
	for _, s := range sc.Sysctls {
		if err := a.check(s.Name, pod.Spec.HostNetwork, pod.Spec.HostIPC); err != nil {
			return fmt.Sprintf("forbidden sysctl: %v", err)
		}
	}
	return ""
}

// OfPod are the pod's sysctls by dotted name, as the runtime sets them.
func OfPod(pod *corev1.Pod) map[string]string {
	sc := pod.Spec.SecurityContext
	if sc == nil || len(sc.Sysctls) == 0 {
		return nil
	}
	out := make(map[string]string, len(sc.Sysctls))
	for _, s := range sc.Sysctls {
		out[Normalize(s.Name)] = s.Value
	}
	return out
}
