package kubelet

import (
	"net"
	"os"

	"github.com/skiff-k8s/skiff/pkg/network"
)

// resolvConfCandidates are the node's resolv.conf files, in k3s' order of
// preference: systemd-resolved's upstream list before its stub.
var resolvConfCandidates = []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}

// buildHostDNS is what pods' resolv.conf files are built from.
func (k *Kubelet) buildHostDNS() network.HostDNS {
	h := network.HostDNS{ClusterDNS: k.cfg.ClusterDNS, ClusterDomain: k.cfg.ClusterDomain}
	if k.cfg.NodeIP != nil {
		h.NodeIPs = []net.IP{k.cfg.NodeIP}
	}
	candidates := resolvConfCandidates
	if k.cfg.ResolvConf != "" {
		candidates = []string{k.cfg.ResolvConf}
	}
	if p, _ := network.HostResolvConf(candidates, os.ReadFile); p != "" {
		if data, err := os.ReadFile(p); err == nil {
			if c, err := network.ParseResolvConf(data); err == nil {
				h.Resolv = &c
			}
		}
	}
	return h
}
