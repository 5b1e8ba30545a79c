package network

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Limits of a pod's resolver configuration, as the API validates them.
const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
	maxDNSSearchLength    = 253
)

// defaultDNSOptions are the options of a ClusterFirst pod.
var defaultDNSOptions = []string{"ndots:5"}

// DNSConfig is a pod's resolver configuration.
type DNSConfig struct {
	Servers  []string
	Searches []string
	Options  []string
}

// ResolvConf renders c as the pod's /etc/resolv.conf, in the layout
// containerd's CRI plugin writes.
func (c DNSConfig) ResolvConf() []byte {
	var b bytes.Buffer
	if len(c.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.Searches, " "))
	}
	for _, s := range c.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(c.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.Options, " "))
	}
	return b.Bytes()
}

// ParseResolvConf reads a resolv.conf as the kubelet does: nameservers
// accumulate, the last search and options lines win, and search domains
// lose a trailing dot ("." itself is dropped).
func ParseResolvConf(content []byte) (DNSConfig, error) {
	c := DNSConfig{Servers: []string{}, Searches: []string{}, Options: []string{}}
	var errs []string
	for _, line := range strings.Split(string(content), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) >= 2 {
				c.Servers = append(c.Servers, fields[1])
			} else {
				errs = append(errs, "nameserver list is empty")
			}
		case "search":
			c.Searches = []string{}
			for _, s := range fields[1:] {
				if s != "." {
					c.Searches = append(c.Searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			c.Options = fields[1:]
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("parse resolv.conf: %s", strings.Join(errs, ", "))
	}
	return c, nil
}

// HostDNS is what the node knows for building pods' resolver
// configurations (the kubelet's --cluster-dns, --cluster-domain and
// --resolv-conf).
type HostDNS struct {
	ClusterDNS    []net.IP
	ClusterDomain string
	// Resolv is the node's parsed resolv.conf (see HostResolvConf); nil
	// when the kubelet is told to use none, and pods then resolve through
	// the node's localhost.
	Resolv  *DNSConfig
	NodeIPs []net.IP
}

// DNSWarning is something the kubelet reports as a Warning event.
type DNSWarning struct {
	// OnNode is set when the event is about the node rather than the pod.
	OnNode  bool
	Reason  string
	Message string
}

// PodDNS returns the pod's resolver configuration from its dnsPolicy and
// dnsConfig, as the kubelet computes it:
//   - ClusterFirst (hostNetwork pods excepted) and ClusterFirstWithHostNet:
//     the cluster DNS as the only nameserver, the <ns>.svc.<domain>,
//     svc.<domain> and <domain> searches before the node's, ndots:5;
//   - Default (and ClusterFirst on the host network, or with no cluster DNS
//     known): the node's resolv.conf;
//   - None: only what spec.dnsConfig gives;
//
// then spec.dnsConfig merged in and the result cut to the API's limits.
func PodDNS(pod *v1.Pod, host HostDNS) (DNSConfig, []DNSWarning) {
	var warnings []DNSWarning
	var c DNSConfig
	if host.Resolv != nil {
		c = DNSConfig{
			Servers:  append([]string(nil), host.Resolv.Servers...),
			Searches: append([]string(nil), host.Resolv.Searches...),
			Options:  append([]string(nil), host.Resolv.Options...),
		}
	}
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = v1.DNSClusterFirst
	}
	if policy == v1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = v1.DNSDefault
	}
	switch policy {
	case v1.DNSNone:
		c = DNSConfig{}
	case v1.DNSClusterFirst, v1.DNSClusterFirstWithHostNet:
		if len(host.ClusterDNS) > 0 {
			c.Servers = nil
			for _, ip := range host.ClusterDNS {
				c.Servers = append(c.Servers, ip.String())
			}
			if host.ClusterDomain != "" {
				d := host.ClusterDomain
				cluster := []string{pod.Namespace + ".svc." + d, "svc." + d, d}
				c.Searches = omitDuplicates(append(cluster, c.Searches...))
			}
			c.Options = append([]string(nil), defaultDNSOptions...)
			break
		}
		msg := fmt.Sprintf("kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.", v1.DNSClusterFirst, v1.DNSDefault)
		warnings = append(warnings,
			DNSWarning{OnNode: true, Reason: "MissingClusterDNS", Message: msg},
			DNSWarning{Reason: "MissingClusterDNS", Message: fmt.Sprintf("pod: %q. %s", pod.Name+"_"+pod.Namespace+"("+string(pod.UID)+")", msg)})
		fallthrough
	case v1.DNSDefault:
		if host.Resolv == nil {
			for _, ip := range host.NodeIPs {
				if ip.To4() == nil {
					c.Servers = append(c.Servers, "::1")
				} else {
					c.Servers = append(c.Servers, "127.0.0.1")
				}
			}
			if len(c.Servers) == 0 {
				c.Servers = []string{"127.0.0.1"}
			}
			c.Searches = []string{"."}
		}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		c.Servers = omitDuplicates(append(c.Servers, dc.Nameservers...))
		c.Searches = omitDuplicates(append(c.Searches, dc.Searches...))
		c.Options = mergeDNSOptions(c.Options, dc.Options)
	}
	return fitDNSLimits(c, warnings)
}

// mergeDNSOptions lets the pod's options override the base ones by name.
// Unlike the kubelet, whose order comes from a map, the result is sorted,
// so a pod's resolv.conf does not change from one sync to the next.
func mergeDNSOptions(base []string, pod []v1.PodDNSConfigOption) []string {
	opts := map[string]string{}
	for _, o := range base {
		name, value, _ := strings.Cut(o, ":")
		opts[name] = value
	}
	for _, o := range pod {
		opts[o.Name] = ""
		if o.Value != nil {
			opts[o.Name] = *o.Value
		}
	}
	out := make([]string, 0, len(opts))
	for name, value := range opts {
		if value != "" {
			name += ":" + value
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func fitDNSLimits(c DNSConfig, warnings []DNSWarning) (DNSConfig, []DNSWarning) {
	if len(c.Servers) > maxDNSNameservers {
		c.Servers = c.Servers[:maxDNSNameservers]
		warnings = append(warnings, DNSWarning{Reason: "DNSConfigForming", Message: fmt.Sprintf(
			"Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: %s", strings.Join(c.Servers, " "))})
	}
	exceeded := false
	if len(c.Searches) > maxDNSSearchPaths {
		c.Searches, exceeded = c.Searches[:maxDNSSearchPaths], true
	}
	// glibc aborts on a search domain longer than 255 characters.
	kept := c.Searches[:0:0]
	for _, s := range c.Searches {
		if len(s) > maxDNSSearchLength {
			exceeded = true
			continue
		}
		kept = append(kept, s)
	}
	c.Searches = kept
	for len(c.Searches) > 0 && len(strings.Join(c.Searches, " ")) > maxDNSSearchListChars {
		c.Searches, exceeded = c.Searches[:len(c.Searches)-1], true
	}
	if exceeded {
		warnings = append(warnings, DNSWarning{Reason: "DNSConfigForming", Message: fmt.Sprintf(
			"Search Line limits were exceeded, some search paths have been omitted, the applied search line is: %s", strings.Join(c.Searches, " "))})
	}
	return c, warnings
}

func omitDuplicates(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// HostResolvConfCandidates are where the node's resolver configuration is
// looked for, in order: with systemd-resolved, /etc/resolv.conf names only
// its 127.0.0.53 stub, which pods cannot reach, and the real upstream
// servers are in /run/systemd/resolve/resolv.conf.
var HostResolvConfCandidates = []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}

var nameserverLine = regexp.MustCompile(`^nameserver\s+([^\s]*)`)

// HostResolvConf picks the node's resolv.conf for pods as k3s does: the
// first candidate whose nameservers are all global unicast addresses (a
// pod cannot reach the node's loopback). ok is false when none is usable;
// path is then the first candidate.
func HostResolvConf(candidates []string, readFile func(string) ([]byte, error)) (path string, ok bool) {
	for _, p := range candidates {
		b, err := readFile(p)
		if err == nil && usableResolvConf(b) {
			return p, true
		}
	}
	if len(candidates) == 0 {
		return "", false
	}
	return candidates[0], false
}

func usableResolvConf(content []byte) bool {
	found := false
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		m := nameserverLine.FindStringSubmatch(sc.Text())
		if len(m) != 2 {
			continue
		}
		if ip := net.ParseIP(m[1]); ip == nil || !ip.IsGlobalUnicast() {
			return false
		}
		found = true
	}
	return found
}
