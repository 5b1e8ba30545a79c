// Package network gives each pod sandbox its network: a network namespace
// that outlives any process (so the sandbox's containers join it later by
// path) wired through CNI to a bridge on the node's podCIDR, as upstream's
// kubelet does through containerd's CRI plugin.
//
// The manager writes a CNI conflist as k3s does (bridge with a gateway,
// host-local IPAM over the podCIDR, portmap with SNAT for hostPorts,
// bandwidth) and runs it with containerd/go-cni, portmap and bandwidth only
// for the pods that use them. What a CNI run per pod would cost a process or
// several is done once in-process instead: lo is brought up as the
// namespace is made, and one nftables rule per node masquerades what leaves
// the pod network (the bridge plugin's ipMasq makes iptables rules per pod).
// It also builds the /etc/hosts and /etc/resolv.conf a pod sees, from the
// same rules as the kubelet.
//
//	m, err := network.New(network.Config{PodCIDR: podCIDR, ClusterCIDR: clusterCIDR, DataDir: dir})
//	pn, err := m.SetupPod(ctx, network.PodNetworkRequest{UID: uid, Namespace: ns, Name: name})
//	// run the sandbox's containers in pn.NetnsPath; pn.IPs[0] is the pod IP
//	err = m.TeardownPod(ctx, uid)
//	err = m.Uninstall() // the bridge and the masquerade rule, once no pod is left
package network
