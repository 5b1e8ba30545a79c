package cli

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
)

// defaultWriteKubeconfig is where `skiff server` writes the admin kubeconfig as root.
const defaultWriteKubeconfig = "/etc/skiff/skiff.yaml"

// runKubectl runs the embedded, stock kubectl. Without KUBECONFIG or --kubeconfig it
// uses the kubeconfig the server wrote, as `k3s kubectl` does.
func runKubectl(args []string) int {
	if os.Getenv("KUBECONFIG") == "" && !hasFlag(args, "kubeconfig") {
		for _, p := range []string{defaultWriteKubeconfig, adminKubeconfig(defaultDataDir())} {
			if _, err := os.Stat(p); err == nil {
				os.Setenv("KUBECONFIG", p)
				break
			}
		}
	}
	cmd := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
		PluginHandler: kubectlcmd.NewDefaultPluginHandler([]string{"kubectl"}),
		Arguments:     append([]string{"kubectl"}, args...),
		ConfigFlags:   genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0),
		IOStreams:     genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
	})
	cmd.SetArgs(args)
	return cli.Run(cmd)
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name || len(a) > len(name)+3 && a[:len(name)+3] == "--"+name+"=" {
			return true
		}
	}
	return false
}
