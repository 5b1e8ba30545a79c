package network

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"os/exec"
)

// dropMasquerade removes the masquerade rules the bridge plugin made for a
// pod, for the one case its own DEL cannot: when the pod's namespace is
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
