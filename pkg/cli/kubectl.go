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
		if p := defaultKubeconfig(); p != "" {
			os.Setenv("KUBECONFIG", p)
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

// defaultKubeconfig is $KUBECONFIG, else the first kubeconfig the server wrote that
// exists, else "".
func defaultKubeconfig() string {
	if p := os.Getenv("KUBECONFIG"); p != "" {
		return p
	}
	for _, p := range []string{defaultWriteKubeconfig, adminKubeconfig(defaultDataDir())} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name || len(a) > len(name)+3 && a[:len(name)+3] == "--"+name+"=" {
			return true
		}
	}
	return false
}
