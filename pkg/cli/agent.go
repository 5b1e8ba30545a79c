package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/pkg/agent"
	"github.com/skiff-k8s/skiff/pkg/join"
	"github.com/skiff-k8s/skiff/pkg/kubelet/eviction"
	"github.com/skiff-k8s/skiff/pkg/proxy"
)

// newAgentCommand is `skiff agent`: the node agent alone, against a server.
func newAgentCommand() *cobra.Command {
	cfg := agent.Config{}
	var serverURL, token, tokenFile, clusterCIDR, clusterDNS string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent (kubelet and containerd) against a skiff server",
		Long: `Run the node agent against a skiff server.

Join a server with --server and --token (the server writes its token to
<data-dir>/server/token): the agent checks the server's CA against the token,
gets its client certificate (system:node:<name>) through a certificate signing
request, and its kubelet serving certificate the same way. The credentials are
kept in <data-dir>/agent and reused on restart. With --kubeconfig the agent uses
that kubeconfig's identity instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			if cfg.Kubeconfig == "" { // JOIN
				if err := joinServer(ctx, &cfg, serverURL, token, tokenFile); err != nil {
					return err
				}
			}
			return agent.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.DataDir, "data-dir", "d", defaultDataDir(), "Folder to hold state")
	f.StringVarP(&serverURL, "server", "s", "", "Server to connect to (https://HOST:6443)")
	f.StringVarP(&token, "token", "t", "", "Token to join the server with (the server's <data-dir>/server/token)")
	f.StringVar(&tokenFile, "token-file", "", "File holding the token to join the server with")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "Kubeconfig with the node's identity (instead of joining with --server and --token)")
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
	f.StringVar(&cfg.PrivateRegistry, "private-registry", "", "Private registry configuration file, read at start (default: <data-dir>/agent/registries.yaml)")
	f.StringVar(&cfg.EvictionHard, "eviction-hard", "", "Hard eviction thresholds, as the kubelet's flag (default: "+eviction.DefaultHard+")")
	f.StringSliceVar(&cfg.AllowedUnsafeSysctls, "allowed-unsafe-sysctls", nil, "Unsafe sysctls pods may set, or patterns ending in '*' (kernel.msg*,net.core.somaxconn), as the kubelet's flag; the safe ones are always allowed")
	f.StringVar(&cfg.RunDir, "run-dir", agent.DefaultRunDir, "Folder for the agent's runtime state that lasts until reboot (containerd's socket and state)")
	f.StringVar(&cfg.LogDir, "pod-log-dir", agent.DefaultLogDir, "Folder for the pods' container logs")
	f.StringVar(&cfg.BridgeName, "cni-bridge", "cni0", "Name of the Linux bridge the pods are attached to")
	f.StringVar(&cfg.NetnsDir, "netns-dir", "", "Folder for the pods' network namespaces (default /var/run/netns)")
	f.StringVar(&cfg.CgroupRoot, "cgroup-root", "/skiff", "Parent cgroup of the pods' cgroups")
	f.IntVar(&cfg.KubeletPort, "kubelet-port", agent.DefaultKubeletPort, "Port of the kubelet API (logs, exec, attach, port-forward, stats)")
	f.BoolVar(&cfg.DisableProxy, "disable-proxy", false, "Do not run the service proxy (ClusterIP, NodePort and LoadBalancer services are not reachable from this node)")
	f.StringVar(&cfg.ProxyPinDir, "proxy-pin-dir", proxy.DefaultPinDir, "bpffs folder of the service proxy's pinned eBPF maps and links (kept across restarts)")
	f.StringVar(&cfg.ProxyNFTable, "proxy-nftables-table", "skiff-proxy", "nftables table (family ip) the service proxy owns")
	f.StringVar(&cfg.ResolvConf, "resolv-conf", "", "Resolver configuration naming the upstream nameservers, for pods and the cluster DNS (default: /etc/resolv.conf, or systemd-resolved's upstream list)")
	f.IntVar(&cfg.DNSPort, "cluster-dns-port", 53, "Port the node's cluster DNS listens on, on the node IP (the kube-dns Service's endpoint for this node)")
}

// joinServer joins the server with the token (pkg/join) and points cfg at the
// node's credentials: the client kubeconfig, the client CA of the kubelet API,
// and a serving certificate requested once the kubelet runs.
func joinServer(ctx context.Context, cfg *agent.Config, serverURL, token, tokenFile string) error {
	if tokenFile != "" {
		if token != "" {
			return errors.New("--token and --token-file are exclusive")
		}
		data, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		token = string(data)
	}
	switch {
	case serverURL == "" && token == "":
		return errors.New("--server and --token are required (or --kubeconfig with a node identity)")
	case serverURL == "":
		return errors.New("--server is required with --token")
	case token == "":
		return errors.New("--token (or --token-file) is required with --server")
	}
	t, err := join.ParseToken(token)
	if err != nil {
		return fmt.Errorf("--token: %w", err)
	}
	if cfg.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	if cfg.NodeName == "" {
		cfg.NodeName = agent.DefaultNodeName()
	}
	if cfg.NodeIP == nil {
		cfg.NodeIP = agent.PrimaryIP()
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "agent"))
	if err != nil {
		return err
	}
	res, err := join.Join(ctx, join.Config{Server: strings.TrimRight(serverURL, "/"), Token: t, Dir: dir, NodeName: cfg.NodeName})
	if err != nil {
		return err
	}
	cfg.Kubeconfig = res.Kubeconfig
	if cfg.ClientCAFile == "" {
		cfg.ClientCAFile = res.ClientCA
	}
	if cfg.ServingCertFile == "" {
		cfg.ServingCertFile = filepath.Join(dir, "serving-kubelet.crt")
		cfg.ServingKeyFile = filepath.Join(dir, "serving-kubelet.key")
		var dns []string
		if h, err := os.Hostname(); err == nil && h != "" {
			dns = append(dns, strings.ToLower(h))
		}
		serving := join.Serving{CertFile: cfg.ServingCertFile, KeyFile: cfg.ServingKeyFile, CAFile: res.ServerCA, DNS: dns}
		cfg.ServingCertificate = func(ctx context.Context, client kubernetes.Interface, nodeName string, nodeIP net.IP) error {
			s := serving
			s.NodeName, s.IPs = nodeName, []net.IP{nodeIP}
			return join.EnsureServingCert(ctx, client, s)
		}
	}
	return nil
}
