package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// What the benchmarks on simulated nodes (scheduler, deployment) share.

// runSim starts a server of its own with nodes simulated nodes and the extra flags.
func runSim(b *testing.B, nodes int, extra ...string) *framework.Server {
	s, err := framework.Run(binary(b), append([]string{fmt.Sprintf("--sim-nodes=%d", nodes)}, extra...)...)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// unlimitedClient is a client of s without client-side rate limits: the load a
// benchmark puts on the server is what it measures.
func unlimitedClient(b *testing.B, s *framework.Server) kubernetes.Interface {
	cfg := *s.Config
	cfg.QPS, cfg.Burst = -1, 0
	c, err := newClient(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// waitNodes waits until the server has nodes nodes, reports how long that took,
// then lets the work their registration causes settle.
func waitNodes(ctx context.Context, b *testing.B, c kubernetes.Interface, nodes int) {
	start := time.Now()
	for {
		l, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == nodes {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("nodes did not register: %v", err)
		}
		time.Sleep(time.Second)
	}
	report(b, "%d simulated nodes registered in %v", nodes, time.Since(start).Round(time.Millisecond))
	time.Sleep(5 * time.Second) // let registration work settle
}

// createNamespace creates ns and waits for its default service account, which pod
// admission requires.
func createNamespace(ctx context.Context, b *testing.B, c kubernetes.Interface, ns string) {
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	for {
		if _, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return
		}
		if ctx.Err() != nil {
			b.Fatal("no default service account")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
