// Command skiff is the one binary of the skiff Kubernetes distribution:
// `skiff server`, `skiff kubectl`, and the tools beside them.
package main

import (
	"os"

	"github.com/skiff-k8s/skiff/pkg/cli"
)

func main() {
	os.Exit(cli.Main(os.Args))
}
