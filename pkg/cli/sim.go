package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/pkg/controllermanager"
	"github.com/skiff-k8s/skiff/pkg/sim"
)

func newSimCommand() *cobra.Command {
	cfg := sim.Config{}
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run simulated nodes against a cluster (as KWOK does): they heartbeat and run bound pods without containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				kubeconfig = defaultKubeconfig()
			}
			rc, err := controllermanager.RESTConfig(kubeconfig, "skiff/sim")
			if err != nil {
				return err
			}
			cfg.RESTConfig = rc
			ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			return sim.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 1, "Number of nodes to simulate")
	f.StringVar(&cfg.NamePrefix, "name-prefix", "skiff-sim-", "Nodes are named <prefix>0, <prefix>1, …")
	f.StringVar(&cfg.CPU, "cpu", "32", "CPU capacity of each node")
	f.StringVar(&cfg.Memory, "memory", "128Gi", "Memory capacity of each node")
	f.IntVar(&cfg.Pods, "max-pods", 110, "Pod capacity of each node")
	f.StringVar(&kubeconfig, "kubeconfig", "", "Kubeconfig to use (default: $KUBECONFIG, then the server's admin kubeconfig)")
	addKlogFlags(f)
	return cmd
}
