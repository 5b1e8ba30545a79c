// Package integration drives the real skiff binary with client-go and kubectl.
// Most tests share one server (TestMain); tests that restart or kill a server start
// their own.
package integration

import (
	"fmt"
	"os"
	"testing"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// srv is the server most tests share.
var srv *framework.Server

func TestMain(m *testing.M) {
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		bin = "../../bin/skiff"
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "integration: no skiff binary at %s (run make build or set SKIFF_BIN)\n", bin)
		os.Exit(1)
	}
	s, err := framework.Run(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- the shared server's last errors and warnings ---\n%s\n", s.Problems(80))
	}
	s.Close()
	os.Exit(code)
}
