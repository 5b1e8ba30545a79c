package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-k8s/skiff/pkg/agent"
)

// newAgentCommand is `skiff agent`: the node agent alone, against a server.
func newAgentCommand() *cobra.Command {
	cfg := agent.Config{}
	var serverURL, token, clusterCIDR, clusterDNS string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent (kubelet and containerd) against a skiff server",
		Long: `Run the node agent against a skiff server.

With --kubeconfig the agent uses that kubeconfig's identity (a node client
certificate, CN system:node:<name>, O system:nodes). Joining a server with
--server and --token (a client certificate through a CSR) is not implemented yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Kubeconfig == "" {
				if serverURL != "" || token != "" {
					return errors.New("joining with --server and --token is not implemented yet: pass --kubeconfig with a node identity")
				}
				return errors.New("--kubeconfig is required")
			}
			var err error
			if clusterCIDR != "" {
				if _, cfg.ClusterCIDR, err = net.ParseCIDR(clusterCIDR); err != nil {
					return fmt.Errorf("--cluster-cidr: %w", err)
				}
			}
			if ip := net.ParseIP(clusterDNS); ip != nil {
				cfg.ClusterDNS = []net.IP{ip}
			} else if clusterDNS != "" {
				return fmt.Errorf("--cluster-dns: %q is not an IP address", clusterDNS)
			}
			ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			return agent.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.DataDir, "data-dir", "d", defaultDataDir(), "Folder to hold state")
	f.StringVar(&serverURL, "server", "", "Server to connect to (joining by token is not implemented yet)")
	f.StringVar(&token, "token", "", "Token to join the server with (not implemented yet)")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "Kubeconfig with the node's identity")
	f.StringVar(&cfg.NodeName, "node-name", "", "Node name (default: the hostname)")
	f.IPVar(&cfg.NodeIP, "node-ip", nil, "IP address to advertise for the node (default: the primary IP)")
	f.StringVar(&clusterCIDR, "cluster-cidr", "10.42.0.0/16", "IPv4 network CIDR of the pod IPs (traffic leaving it is masqueraded)")
	f.StringVar(&clusterDNS, "cluster-dns", "10.43.0.10", "IPv4 cluster IP for the DNS service")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "Cluster domain")
	f.StringVar(&cfg.ServingCertFile, "kubelet-certificate", "", "Serving certificate of the kubelet API, signed by the cluster CA (the API is not served without one)")
	f.StringVar(&cfg.ServingKeyFile, "kubelet-key", "", "Key of --kubelet-certificate")
	f.StringVar(&cfg.ClientCAFile, "client-ca-file", "", "CA of the clients the kubelet API accepts (the apiserver's kubelet client certificate)")
	addAgentFlags(f, &cfg)
	addKlogFlags(f)
	return cmd
}

// addAgentFlags are the node agent's flags, shared by `skiff server` and `skiff agent`.
func addAgentFlags(f *pflag.FlagSet, cfg *agent.Config) {
	f.StringVar(&cfg.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "Use this containerd socket instead of starting containerd")
	f.StringVar(&cfg.ImagesDir, "images-dir", "", "Import image tarballs from this folder at start and when added (default: <data-dir>/agent/images)")
	f.StringVar(&cfg.RunDir, "run-dir", agent.DefaultRunDir, "Folder for the agent's runtime state that lasts until reboot (containerd's socket and state)")
	f.StringVar(&cfg.LogDir, "pod-log-dir", agent.DefaultLogDir, "Folder for the pods' container logs")
	f.StringVar(&cfg.BridgeName, "cni-bridge", "cni0", "Name of the Linux bridge the pods are attached to")
	f.StringVar(&cfg.NetnsDir, "netns-dir", "", "Folder of the pods' network namespace mounts (default: /var/run/netns); the agent owns every skiff-* namespace in it")
	f.StringVar(&cfg.CgroupRoot, "cgroup-root", "/skiff", "Parent cgroup of the pods' cgroups")
	f.IntVar(&cfg.KubeletPort, "kubelet-port", agent.DefaultKubeletPort, "Port of the kubelet API (logs, exec, attach, port-forward, stats)")
	f.StringVar(&cfg.ResolvConf, "resolv-conf", "", "Resolver configuration naming the upstream nameservers, for pods and the cluster DNS (default: /etc/resolv.conf, or systemd-resolved's upstream list)")
	f.IntVar(&cfg.DNSPort, "cluster-dns-port", 53, "Port the node's cluster DNS listens on, on the node IP (the kube-dns Service's endpoint for this node)")
}
