package network

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
)

// natTable is the nftables table holding the node's masquerade rule, one
// per bridge so that several agents on one host (tests) keep apart.
func natTable(bridge string) string { return "skiff-net-" + bridge }

// installMasquerade writes the node's masquerade rule: what pods on this
// node's podCIDR send outside the cluster's pod network (multicast aside)
// leaves with the node's address, as k3s' flannel masquerades the cluster
// CIDR. One rule serves every pod, where the bridge plugin's ipMasq makes a
// chain and rules per pod (several iptables processes per pod start and
// stop). The table is replaced in one transaction, so a restarted agent
// never leaves a moment without the rule.
func installMasquerade(c Config) error {
	t := natTable(c.BridgeName)
	script := fmt.Sprintf(`table ip %[1]s
delete table ip %[1]s
table ip %[1]s {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[2]s ip daddr != %[3]s ip daddr != 224.0.0.0/4 masquerade
	}
}
`, t, maskedString(c.PodCIDR), maskedString(c.ClusterCIDR))
	if err := nft(script); err != nil {
		return fmt.Errorf("network: masquerade rule: %w", err)
	}
	return nil
}

// removeMasquerade deletes the node's masquerade table; one already gone is
// no error.
func removeMasquerade(bridge string) error {
	t := natTable(bridge)
	return nft(fmt.Sprintf("table ip %[1]s\ndelete table ip %[1]s\n", t))
}

func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft -f: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// dropMasquerade removes the masquerade rules the bridge plugin made for a
// pod set up with its ipMasq (legacyChain), for the one case its own DEL
// cannot: when the pod's namespace is
// gone, the plugin no longer finds the pod's address on the interface and
// leaves them. A stale rule would keep the per-pod chain busy, so the pod's
// next setup and teardown would fail. The rules are spelled exactly as the
// plugin makes them (containernetworking/plugins ip.SetupIPMasq); ones
// already gone (after a reboot, say) are no error.
func dropMasquerade(networkName, containerID string, ips []string) {
	iptables, err := exec.LookPath("iptables")
	if err != nil {
		return
	}
	chain := cniChainName(networkName, containerID)
	comment := fmt.Sprintf("name: %q id: %q", networkName, containerID)
	for _, ip := range ips {
		exec.Command(iptables, "-t", "nat", "-D", "POSTROUTING", "-s", ip, "-j", chain,
			"-m", "comment", "--comment", comment, "--wait").Run()
	}
	exec.Command(iptables, "-t", "nat", "-F", chain, "--wait").Run()
	exec.Command(iptables, "-t", "nat", "-X", chain, "--wait").Run()
}

// cniChainName is the plugins' per-container chain name
// (utils.FormatChainName): CNI- and the start of a SHA-512 of the network
// name and container ID, 28 characters in all.
func cniChainName(networkName, containerID string) string {
	sum := sha512.Sum512([]byte(networkName + containerID))
	return "CNI-" + hex.EncodeToString(sum[:])[:24]
}
