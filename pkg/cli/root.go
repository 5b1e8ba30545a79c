// Package cli holds the flag sets and wiring of each skiff subcommand.
package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/pkg/version"
)

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	// `skiff kubectl …` hands every argument to kubectl untouched.
	if len(args) > 1 && args[1] == "kubectl" {
		return runKubectl(args[2:])
	}
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "A lightweight Kubernetes in one binary",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newServerCommand(), newAgentCommand(), newSimCommand(), newImageCommand(), &cobra.Command{
		Use:                "kubectl",
		Short:              "Run kubectl against the cluster (defaults to the admin kubeconfig)",
		DisableFlagParsing: true,
	})
	root.SetArgs(args[1:])
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "skiff:", err)
		return 1
	}
	return 0
}

// defaultDataDir is /var/lib/skiff for root and $HOME/.skiff otherwise, as k3s does.
func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/skiff"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".skiff"
	}
	return filepath.Join(home, ".skiff")
}

// adminKubeconfig is where the server always writes the admin kubeconfig.
func adminKubeconfig(dataDir string) string {
	return filepath.Join(dataDir, "server", "cred", "admin.kubeconfig")
}
