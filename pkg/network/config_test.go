package network

import (
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"testing"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	n.IP = ip // keep host bits, as a caller might
	return n
}

func TestConfList(t *testing.T) {
	b, err := ConfList(Config{
		PodCIDR:     mustCIDR(t, "10.42.0.7/24"),
		ClusterCIDR: mustCIDR(t, "10.42.0.0/16"),
		DataDir:     "/var/lib/skiff/agent",
		MTU:         1450,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "cbr0",
		"plugins": []any{
			map[string]any{
				"type":             "bridge",
				"bridge":           "cni0",
				"isGateway":        true,
				"isDefaultGateway": true,
				"ipMasq":           false,
				"hairpinMode":      true,
				"forceAddress":     true,
				"mtu":              1450.0,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": "/var/lib/skiff/agent/cni/networks",
					"ranges":  []any{[]any{map[string]any{"subnet": "10.42.0.0/24"}}},
				},
			},
			map[string]any{"type": "portmap", "snat": true, "capabilities": map[string]any{"portMappings": true}},
			map[string]any{"type": "bandwidth", "capabilities": map[string]any{"bandwidth": true}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s", b)
	}
}

// Each pod runs only the plugins it needs; pods recorded before chains
// were tear down with everything the old conflist ran.
func TestConfListChains(t *testing.T) {
	c := Config{PodCIDR: mustCIDR(t, "10.42.0.0/24"), DataDir: "/d"}
	types := func(ch chain) (names []string, masq bool) {
		b, err := confList(c, ch)
		if err != nil {
			t.Fatal(err)
		}
		var l struct {
			Plugins []struct {
				Type   string `json:"type"`
				IPMasq bool   `json:"ipMasq"`
			} `json:"plugins"`
		}
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		for _, p := range l.Plugins {
			names = append(names, p.Type)
			masq = masq || p.IPMasq
		}
		return names, masq
	}
	for _, tt := range []struct {
		req  PodNetworkRequest
		want []string
	}{
		{PodNetworkRequest{}, []string{"bridge"}},
		{PodNetworkRequest{PortMappings: []PortMapping{{HostPort: 80, ContainerPort: 80}}}, []string{"bridge", "portmap"}},
		{PodNetworkRequest{Bandwidth: &Bandwidth{IngressRate: 1e6}}, []string{"bridge", "bandwidth"}},
		{PodNetworkRequest{PortMappings: []PortMapping{{HostPort: 80, ContainerPort: 80}}, Bandwidth: &Bandwidth{EgressRate: 1e6}},
			[]string{"bridge", "portmap", "bandwidth"}},
	} {
		if got, masq := types(chainFor(tt.req)); !reflect.DeepEqual(got, tt.want) || masq {
			t.Errorf("%+v: plugins %v ipMasq %v, want %v without", tt.req, got, masq, tt.want)
		}
	}
	if got, masq := types(legacyChain); !reflect.DeepEqual(got, []string{"bridge", "portmap", "bandwidth"}) || !masq {
		t.Errorf("legacy chain: plugins %v ipMasq %v", got, masq)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{PodCIDR: mustCIDR(t, "10.42.1.0/24"), DataDir: "/d"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.BridgeName != "cni0" || c.NetnsDir != "/var/run/netns" || c.ConfDir != "/d/etc/cni/net.d" ||
		c.StateDir != "/d/cni/pods" || !reflect.DeepEqual(c.PluginDirs, []string{"/usr/lib/cni", "/opt/cni/bin"}) ||
		c.ClusterCIDR.String() != "10.42.1.0/24" {
		t.Errorf("defaults: %+v", c)
	}
	for _, tt := range []struct {
		c   Config
		err string
	}{
		{Config{DataDir: "/d"}, "an IPv4 PodCIDR is required"},
		{Config{PodCIDR: mustCIDR(t, "fd00::/64"), DataDir: "/d"}, "an IPv4 PodCIDR is required"},
		{Config{PodCIDR: mustCIDR(t, "10.42.1.0/24")}, "DataDir is required"},
		{Config{PodCIDR: mustCIDR(t, "10.42.1.0/24"), ClusterCIDR: mustCIDR(t, "10.43.0.0/16"), DataDir: "/d"}, "not inside clusterCIDR"},
		{Config{PodCIDR: mustCIDR(t, "10.42.1.0/24"), DataDir: "/d", BridgeName: "a-very-long-bridge"}, "longer than 15"},
	} {
		if _, err := tt.c.withDefaults(); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%+v: error %v, want %q", tt.c, err, tt.err)
		}
	}
}

func TestCheckUID(t *testing.T) {
	for _, ok := range []string{"0b5b7b1e-6d3c-4b8e-9c1a-2f6f4f4e9a11", "e2e-abc"} {
		if err := checkUID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "a b"} {
		if err := checkUID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCNIChainName(t *testing.T) {
	// as the bridge plugin named the chain of a pod in an e2e run
	if got := cniChainName("cbr0", "e2e-8a80b9cae622133d"); got != "CNI-44b5428d82d73da65872ef1a" {
		t.Errorf("got %s", got)
	}
}
