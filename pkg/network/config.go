package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
)

// Defaults, spelled as upstream and k3s spell them.
const (
	DefaultBridgeName  = "cni0"
	DefaultNetworkName = "cbr0"
	// DefaultNetnsDir is where iproute2 keeps named namespaces, so
	// `ip netns` lists and enters pod namespaces.
	DefaultNetnsDir = "/var/run/netns"
	// ConfListName is the file written in ConfDir.
	ConfListName = "10-skiff.conflist"
	// cniVersion is the newest spec version Debian 12's plugins (1.1.x) speak.
	cniVersion = "1.0.0"
)

// DefaultPluginDirs are where Debian and the upstream release tarballs put
// the CNI plugin binaries.
var DefaultPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// Config is the node's pod network.
type Config struct {
	// PodCIDR is the node's podCIDR (node.spec.podCIDR), e.g. 10.42.0.0/24.
	PodCIDR *net.IPNet
	// ClusterCIDR is the cluster's pod range, e.g. 10.42.0.0/16. Traffic
	// from pods leaving it is masqueraded.
	ClusterCIDR *net.IPNet
	// DataDir is the agent's data dir (e.g. /var/lib/skiff/agent); the CNI
	// conflist, the IPAM leases and the per-pod state live under it.
	DataDir string
	// BridgeName defaults to cni0.
	BridgeName string
	// NetworkName is the CNI network name, cbr0 as in k3s.
	NetworkName string
	// MTU of the bridge and pod interfaces; 0 lets the bridge plugin choose.
	MTU int
	// PluginDirs are searched for CNI plugin binaries; DefaultPluginDirs
	// when empty.
	PluginDirs []string
	// ConfDir receives the conflist; <DataDir>/etc/cni/net.d when empty.
	ConfDir string
	// IPAMDir is host-local's dataDir; <DataDir>/cni/networks when empty.
	IPAMDir string
	// StateDir keeps one file per pod so a restarted agent re-adopts pod
	// networks and tears them down with the arguments they were set up
	// with; <DataDir>/cni/pods when empty.
	StateDir string
	// NetnsDir holds the pod namespaces' bind mounts; DefaultNetnsDir when
	// empty.
	NetnsDir string
}

// withDefaults validates c and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	if c.PodCIDR == nil || c.PodCIDR.IP.To4() == nil {
		return c, errors.New("network: an IPv4 PodCIDR is required")
	}
	if c.ClusterCIDR == nil {
		c.ClusterCIDR = c.PodCIDR
	}
	if !c.ClusterCIDR.Contains(c.PodCIDR.IP) {
		return c, fmt.Errorf("network: podCIDR %s is not inside clusterCIDR %s", c.PodCIDR, c.ClusterCIDR)
	}
	if c.DataDir == "" {
		return c, errors.New("network: DataDir is required")
	}
	if c.BridgeName == "" {
		c.BridgeName = DefaultBridgeName
	}
	if len(c.BridgeName) > 15 {
		return c, fmt.Errorf("network: bridge name %q is longer than 15 characters", c.BridgeName)
	}
	if c.NetworkName == "" {
		c.NetworkName = DefaultNetworkName
	}
	if len(c.PluginDirs) == 0 {
		c.PluginDirs = DefaultPluginDirs
	}
	if c.ConfDir == "" {
		c.ConfDir = filepath.Join(c.DataDir, "etc", "cni", "net.d")
	}
	if c.IPAMDir == "" {
		c.IPAMDir = filepath.Join(c.DataDir, "cni", "networks")
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(c.DataDir, "cni", "pods")
	}
	if c.NetnsDir == "" {
		c.NetnsDir = DefaultNetnsDir
	}
	return c, nil
}

// chain says which plugins run for a pod after the bridge (which runs for
// every pod, with host-local IPAM). portmap and bandwidth are added only for
// pods that ask for them, hostPorts or the bandwidth annotations: each is a
// process per pod start and stop, and portmap's DEL runs iptables.
type chain struct {
	Portmap   bool `json:"portmap,omitempty"`
	Bandwidth bool `json:"bandwidth,omitempty"`
	// BridgeMasquerade has the bridge plugin masquerade each pod with
	// iptables rules of its own (ipMasq). Pods are now covered by one
	// node-wide rule (masquerade.go); only pods set up by an earlier version
	// of skiff, recorded without a chain, were set up this way.
	BridgeMasquerade bool `json:"bridgeMasquerade,omitempty"`
}

// legacyChain is what pods set up before chains were recorded ran.
var legacyChain = chain{Portmap: true, Bandwidth: true, BridgeMasquerade: true}

// chainFor is the chain a pod's request needs.
func chainFor(req PodNetworkRequest) chain {
	return chain{Portmap: len(req.PortMappings) > 0, Bandwidth: req.Bandwidth != nil}
}

// ConfList renders the CNI network configuration list for c with every
// plugin a pod may need, as written to ConfDir: the bridge plugin (the
// node's gateway on the bridge, pods' default route through it, hairpin so a
// pod reaches itself through a Service), host-local IPAM over the podCIDR,
// portmap for hostPorts (with SNAT so 127.0.0.1:hostPort works on the node)
// and bandwidth for the kubernetes.io/ingress-bandwidth annotations. Each
// pod runs the part of it it needs. Masquerade of what leaves the pod
// network is one rule for the node, not the bridge plugin's per pod, and
// loopback is brought up when the namespace is made: neither needs a
// process per pod.
func ConfList(c Config) ([]byte, error) {
	return confList(c, chain{Portmap: true, Bandwidth: true})
}

func confList(c Config, ch chain) ([]byte, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	bridge := map[string]any{
		"type":             "bridge",
		"bridge":           c.BridgeName,
		"isGateway":        true,
		"isDefaultGateway": true,
		"ipMasq":           ch.BridgeMasquerade,
		"hairpinMode":      true,
		"forceAddress":     true,
		"ipam": map[string]any{
			"type":    "host-local",
			"dataDir": c.IPAMDir,
			"ranges":  [][]map[string]string{{{"subnet": maskedString(c.PodCIDR)}}},
		},
	}
	if c.MTU > 0 {
		bridge["mtu"] = c.MTU
	}
	plugins := []any{bridge}
	if ch.Portmap {
		plugins = append(plugins, map[string]any{
			"type":         "portmap",
			"snat":         true,
			"capabilities": map[string]bool{"portMappings": true},
		})
	}
	if ch.Bandwidth {
		plugins = append(plugins, map[string]any{
			"type":         "bandwidth",
			"capabilities": map[string]bool{"bandwidth": true},
		})
	}
	list := map[string]any{
		"cniVersion": cniVersion,
		"name":       c.NetworkName,
		"plugins":    plugins,
	}
	return json.MarshalIndent(list, "", "  ")
}

// maskedString prints n with its host bits cleared, as host-local wants.
func maskedString(n *net.IPNet) string {
	return (&net.IPNet{IP: n.IP.Mask(n.Mask), Mask: n.Mask}).String()
}
