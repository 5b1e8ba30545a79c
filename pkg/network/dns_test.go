package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestParseResolvConf(t *testing.T) {
	got, err := ParseResolvConf([]byte(`# generated
nameserver 192.0.2.53
 nameserver  198.51.100.53
search old.example
search example.com. corp.example .
options rotate
options ndots:2 timeout:1
; comment-like line that is not a comment for the kubelet
`))
	if err != nil {
		t.Fatal(err)
	}
	want := DNSConfig{
		Servers:  []string{"192.0.2.53", "198.51.100.53"},
		Searches: []string{"example.com", "corp.example"},
		Options:  []string{"ndots:2", "timeout:1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := ParseResolvConf([]byte("nameserver\n")); err == nil || !strings.Contains(err.Error(), "nameserver list is empty") {
		t.Errorf("empty nameserver: %v", err)
	}
}

func TestResolvConfFormat(t *testing.T) {
	c := DNSConfig{
		Servers:  []string{"10.43.0.10", "10.43.0.11"},
		Searches: []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"},
		Options:  []string{"ndots:5"},
	}
	want := "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.43.0.10\nnameserver 10.43.0.11\noptions ndots:5\n"
	if got := string(c.ResolvConf()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := string((DNSConfig{}).ResolvConf()); got != "" {
		t.Errorf("empty config gave %q", got)
	}
}

func strp(s string) *string { return &s }

func TestPodDNS(t *testing.T) {
	hostResolv := &DNSConfig{
		Servers:  []string{"192.0.2.53"},
		Searches: []string{"corp.example", "cluster.local"},
		Options:  []string{"rotate", "timeout:2"},
	}
	host := HostDNS{
		ClusterDNS:    []net.IP{net.ParseIP("10.43.0.10")},
		ClusterDomain: "cluster.local",
		Resolv:        hostResolv,
	}
	clusterSearch := []string{"ns1.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"}
	pod := func(policy v1.DNSPolicy, hostNet bool, dc *v1.PodDNSConfig) *v1.Pod {
		return testPod("web", func(p *v1.Pod) {
			p.Namespace = "ns1"
			p.Spec.DNSPolicy = policy
			p.Spec.HostNetwork = hostNet
			p.Spec.DNSConfig = dc
		})
	}
	tests := []struct {
		name     string
		pod      *v1.Pod
		host     HostDNS
		want     DNSConfig
		warnings []string
	}{{
		name: "ClusterFirst",
		pod:  pod(v1.DNSClusterFirst, false, nil),
		host: host,
		want: DNSConfig{Servers: []string{"10.43.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}},
	}, {
		name: "empty policy is ClusterFirst",
		pod:  pod("", false, nil),
		host: host,
		want: DNSConfig{Servers: []string{"10.43.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}},
	}, {
		name: "ClusterFirst on the host network is Default",
		pod:  pod(v1.DNSClusterFirst, true, nil),
		host: host,
		want: *hostResolv,
	}, {
		name: "ClusterFirstWithHostNet",
		pod:  pod(v1.DNSClusterFirstWithHostNet, true, nil),
		host: host,
		want: DNSConfig{Servers: []string{"10.43.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}},
	}, {
		name: "Default",
		pod:  pod(v1.DNSDefault, false, nil),
		host: host,
		want: *hostResolv,
	}, {
		name: "Default without a host resolv.conf uses the node's localhost",
		pod:  pod(v1.DNSDefault, false, nil),
		host: HostDNS{NodeIPs: []net.IP{net.ParseIP("192.0.2.2"), net.ParseIP("fd00::2")}},
		want: DNSConfig{Servers: []string{"127.0.0.1", "::1"}, Searches: []string{"."}},
	}, {
		name: "ClusterFirst with no cluster DNS falls back to Default",
		pod:  pod(v1.DNSClusterFirst, false, nil),
		host: HostDNS{ClusterDomain: "cluster.local", Resolv: hostResolv},
		want: *hostResolv,
		warnings: []string{
			`MissingClusterDNS: kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`,
			`MissingClusterDNS: pod: "web_ns1(uid-1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`,
		},
	}, {
		name: "None takes only dnsConfig",
		pod: pod(v1.DNSNone, false, &v1.PodDNSConfig{
			Nameservers: []string{"203.0.113.1"},
			Searches:    []string{"my.dns.search.suffix"},
			Options:     []v1.PodDNSConfigOption{{Name: "ndots", Value: strp("2")}, {Name: "edns0"}},
		}),
		host: host,
		want: DNSConfig{Servers: []string{"203.0.113.1"}, Searches: []string{"my.dns.search.suffix"}, Options: []string{"edns0", "ndots:2"}},
	}, {
		name: "ClusterFirst merged with dnsConfig",
		pod: pod(v1.DNSClusterFirst, false, &v1.PodDNSConfig{
			Nameservers: []string{"10.43.0.10", "203.0.113.1"},
			Searches:    []string{"svc.cluster.local", "extra.example"},
			Options:     []v1.PodDNSConfigOption{{Name: "ndots", Value: strp("1")}, {Name: "single-request-reopen"}},
		}),
		host: host,
		want: DNSConfig{
			Servers:  []string{"10.43.0.10", "203.0.113.1"},
			Searches: append(append([]string(nil), clusterSearch...), "extra.example"),
			Options:  []string{"ndots:1", "single-request-reopen"},
		},
	}, {
		name: "too many nameservers",
		pod: pod(v1.DNSClusterFirst, false, &v1.PodDNSConfig{
			Nameservers: []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"},
		}),
		host:     host,
		want:     DNSConfig{Servers: []string{"10.43.0.10", "203.0.113.1", "203.0.113.2"}, Searches: clusterSearch, Options: []string{"ndots:5"}},
		warnings: []string{"DNSConfigForming: Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.43.0.10 203.0.113.1 203.0.113.2"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings := PodDNS(tt.pod, tt.host)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			var ws []string
			for _, w := range warnings {
				ws = append(ws, w.Reason+": "+w.Message)
			}
			if !reflect.DeepEqual(ws, tt.warnings) {
				t.Errorf("warnings %q, want %q", ws, tt.warnings)
			}
		})
	}
	// the host's configuration is not modified through the result
	if !reflect.DeepEqual(hostResolv.Searches, []string{"corp.example", "cluster.local"}) {
		t.Errorf("host resolv.conf changed: %+v", hostResolv)
	}
}

func TestPodDNSSearchLimits(t *testing.T) {
	var searches []string
	for i := 0; i < 40; i++ {
		searches = append(searches, fmt.Sprintf("d%02d.example", i))
	}
	got, warnings := PodDNS(testPod("web", func(p *v1.Pod) {
		p.Spec.DNSPolicy = v1.DNSNone
		p.Spec.DNSConfig = &v1.PodDNSConfig{Searches: searches}
	}), HostDNS{})
	if len(got.Searches) != 32 || got.Searches[31] != "d31.example" {
		t.Errorf("searches %v, want the first 32", got.Searches)
	}
	if len(warnings) != 1 || warnings[0].Reason != "DNSConfigForming" || !strings.HasPrefix(warnings[0].Message, "Search Line limits were exceeded") {
		t.Errorf("warnings %+v", warnings)
	}

	long := strings.Repeat("a", 254)
	var big []string
	for i := 0; i < 10; i++ {
		big = append(big, fmt.Sprintf("%03d%s", i, strings.Repeat("b", 240)))
	}
	got, _ = PodDNS(testPod("web", func(p *v1.Pod) {
		p.Spec.DNSPolicy = v1.DNSNone
		p.Spec.DNSConfig = &v1.PodDNSConfig{Searches: append([]string{long}, big...)}
	}), HostDNS{})
	if len(strings.Join(got.Searches, " ")) > 2048 || len(got.Searches) != 8 || got.Searches[0] != big[0] {
		t.Errorf("searches %d long, %d domains: %v", len(strings.Join(got.Searches, " ")), len(got.Searches), got.Searches)
	}
}

func TestHostResolvConf(t *testing.T) {
	files := map[string]string{
		"/etc/resolv.conf":                 "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n",
		"/run/systemd/resolve/resolv.conf": "nameserver 192.0.2.53\nnameserver 2001:db8::53\n",
		"/plain":                           "nameserver 198.51.100.1\n",
		"/none":                            "search example.com\n",
	}
	read := func(p string) ([]byte, error) {
		if c, ok := files[p]; ok {
			return []byte(c), nil
		}
		return nil, os.ErrNotExist
	}
	for _, tt := range []struct {
		candidates []string
		want       string
		ok         bool
	}{
		{HostResolvConfCandidates, "/run/systemd/resolve/resolv.conf", true},
		{[]string{"/plain", "/run/systemd/resolve/resolv.conf"}, "/plain", true},
		{[]string{"/etc/resolv.conf", "/none", "/missing"}, "/etc/resolv.conf", false},
		{nil, "", false},
	} {
		got, ok := HostResolvConf(tt.candidates, read)
		if got != tt.want || ok != tt.ok {
			t.Errorf("HostResolvConf(%v) = %q, %v; want %q, %v", tt.candidates, got, ok, tt.want, tt.ok)
		}
	}
	if _, err := read("/missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}
