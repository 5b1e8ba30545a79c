package cli

import (
	"context"
	goflag "flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/server"
)

func newServerCommand() *cobra.Command {
	o := server.Options{}
	var portRange, disable string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (and, unless --disable-agent, the node agent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.NodePortBase, o.NodePortSize, err = parsePortRange(portRange); err != nil {
				return fmt.Errorf("--service-node-port-range: %w", err)
			}
			if disable != "" {
				o.Disable = strings.Split(disable, ",")
			}
			ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			return server.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.DataDir, "data-dir", "d", defaultDataDir(), "Folder to hold state")
	f.IntVar(&o.HTTPSPort, "https-listen-port", 6443, "HTTPS listen port")
	f.IPVar(&o.BindAddress, "bind-address", net.IPv4zero, "Address the apiserver listens on")
	f.IPVar(&o.AdvertiseAddress, "advertise-address", nil, "IP address the apiserver advertises to members of the cluster (default: the node's primary IP)")
	f.StringSliceVar(&o.TLSSANs, "tls-san", nil, "Add additional hostnames or IPs as Subject Alternative Names on the server TLS cert")
	def := ""
	if os.Geteuid() == 0 {
		def = defaultWriteKubeconfig
	}
	f.StringVarP(&o.WriteKubeconfig, "write-kubeconfig", "o", def, "Write the admin kubeconfig to this file as well")
	f.StringVar(&o.WriteKubeconfigMode, "write-kubeconfig-mode", "0600", "Write the kubeconfig with this mode")
	f.BoolVar(&o.DisableAgent, "disable-agent", false, "Do not run a local agent and register a local kubelet")
	f.StringVar(&o.DatastoreEndpoint, "datastore-endpoint", "", "Datastore: empty for SQLite in the data dir, or postgres://, mysql://, http(s):// (etcd)")
	f.StringVar(&o.Token, "token", "", "Shared secret used to join agents to the cluster")
	f.StringVar(&o.NodeName, "node-name", "", "Node name (default: the hostname)")
	f.StringVar(&o.ClusterCIDR, "cluster-cidr", "10.42.0.0/16", "IPv4 network CIDR to use for pod IPs")
	f.StringVar(&o.ServiceCIDR, "service-cidr", "10.43.0.0/16", "IPv4 network CIDR to use for service IPs")
	f.StringVar(&portRange, "service-node-port-range", "30000-32767", "Port range to reserve for services with NodePort visibility")
	f.StringVar(&o.ClusterDNS, "cluster-dns", "", "IPv4 cluster IP for the DNS service, in --service-cidr (default: its 10th address, 10.43.0.10)")
	f.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "Cluster domain")
	f.BoolVar(&o.DisableScheduler, "disable-scheduler", false, "Do not run the scheduler")
	f.BoolVar(&o.DisableControllerManager, "disable-controller-manager", false, "Do not run the controller manager")
	f.IntVar(&o.SimNodes, "sim-nodes", 0, "Run this many simulated nodes (as KWOK does): they heartbeat and run bound pods without containers")
	f.StringVar(&o.DebugAddress, "debug-address", "", "Serve Go's profiles (/debug/pprof/) over plain HTTP on this loopback host:port")
	f.StringVar(&disable, "disable", "", "Do not deploy these packaged components (comma separated)")
	addAgentFlags(f, &o.Agent)
	addKlogFlags(f)
	return cmd
}

// addKlogFlags puts klog's flags (-v, --vmodule, …) on a command, where cobra parses them.
func addKlogFlags(f *pflag.FlagSet) {
	logFlags := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(logFlags)
	f.AddGoFlagSet(logFlags)
}

func parsePortRange(s string) (base, size int, err error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("want LOW-HIGH, got %q", s)
	}
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || l < 1 || h > 65535 || h < l {
		return 0, 0, fmt.Errorf("want LOW-HIGH within 1-65535, got %q", s)
	}
	return l, h - l + 1, nil
}
