package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// BenchmarkScale measures the server's memory at issue 3's scale: 1,000 simulated
// nodes run by `skiff sim` in a separate process (so that only the control plane
// counts), then a Deployment of 5,000 replicas. It prints the server's RSS idle with
// the nodes and after the rollout, the rollout's time and the server's CPU time
// during it. SKIFF_BENCH_SCALE_NODES and SKIFF_BENCH_SCALE_REPLICAS override the
// sizes. With SKIFF_BENCH_PROFILE=dir it writes the server's heap profile when
// the Deployment is Available to dir/scale-heap.pprof.
func BenchmarkScale(b *testing.B) {
	nodes, replicas := envInt("SKIFF_BENCH_SCALE_NODES", 1000), envInt("SKIFF_BENCH_SCALE_REPLICAS", 5000)
	profileDir := os.Getenv("SKIFF_BENCH_PROFILE")
	for i := 0; i < b.N; i++ {
		var args []string
		debugAddr := "127.0.0.1:" + strconv.Itoa(framework.FreePort(b))
		if profileDir != "" {
			args = append(args, "--debug-address", debugAddr)
		}
		s, err := framework.Run(binary(b), args...)
		if err != nil {
			b.Fatal(err)
		}
		func() {
			defer s.Close()
			// The simulated nodes run from a copy of the binary. Real nodes are other
			// machines; a sim started from the same file keeps all of it in the page
			// cache (its start-up reads ahead), and then each page fault of the server
			// maps the cached pages around it too (the kernel's fault-around, 64 KB),
			// which counted some 40 MB of the executable the server never touched
			// in its RSS.
			simBin := filepath.Join(b.TempDir(), "skiff-sim")
			if err := copyFile(s.Bin, simBin); err != nil {
				b.Fatal(err)
			}
			sim := exec.Command(simBin, "sim", "--nodes", strconv.Itoa(nodes), "--kubeconfig", s.Kubeconfig)
			if err := sim.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = sim.Process.Kill(); _ = sim.Wait() }()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			c := s.Client
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
			report(b, "%d simulated nodes (separate process) registered in %v", nodes, time.Since(start).Round(time.Millisecond))
			time.Sleep(10 * time.Second) // let registration work settle
			report(b, "server RSS idle with %d nodes: %.1f MB (file %.1f MB)", nodes, rssMB(s.PID()), statusMB(s.PID(), "RssFile"))
			report(b, "  %s", memoryBreakdown(ctx, s))
			ns := "scalebench"
			if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			cpu0 := cpuSeconds(s.PID())
			t0 := time.Now()
			if _, err := c.AppsV1().Deployments(ns).Create(ctx, benchDeployment("big", int32(replicas)), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			var peak float64
			for {
				peak = max(peak, rssMB(s.PID()))
				cur, err := c.AppsV1().Deployments(ns).Get(ctx, "big", metav1.GetOptions{})
				if err == nil && available(cur) && cur.Status.AvailableReplicas == int32(replicas) {
					break
				}
				if ctx.Err() != nil {
					b.Fatalf("deployment not available in time: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			el, cpu := time.Since(t0), cpuSeconds(s.PID())-cpu0
			if profileDir != "" {
				saveProfile(b, debugAddr, "heap", filepath.Join(profileDir, "scale-heap.pprof"))
			}
			report(b, "deployment of %d replicas on %d nodes: Available in %v; server CPU %.1f s", replicas, nodes, el.Round(time.Millisecond), cpu)
			time.Sleep(5 * time.Second)
			rss := rssMB(s.PID())
			report(b, "server RSS: peak during the rollout %.1f MB, 5 s after %.1f MB (anon %.1f MB, file %.1f MB)",
				peak, rss, statusMB(s.PID(), "RssAnon"), statusMB(s.PID(), "RssFile"))
			report(b, "  %s", memoryBreakdown(ctx, s))
			time.Sleep(60 * time.Second) // the idle trim runs once a minute
			report(b, "server RSS a minute after the rollout: %.1f MB", rssMB(s.PID()))
			b.ReportMetric(el.Seconds(), "rollout-s")
			b.ReportMetric(rss, "rss-after-MB")
		}()
	}
}

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// cpuSeconds is a process's user+system CPU time from /proc/PID/stat.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command (which may hold spaces) start at state, field 3.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return float64(ut+st) / 100 // USER_HZ
}

// copyFile copies the executable src to dst.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o755)
}
