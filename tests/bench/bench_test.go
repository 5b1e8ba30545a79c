// Package bench measures the figures skiff claims: start-up time, idle memory, and
// the latency and throughput of the API. Run with `make bench`; every benchmark runs
// once (-benchtime 1x) and prints its figures. Nothing here asserts a timing.
package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

func binary(b *testing.B) string {
	if p := os.Getenv("SKIFF_BIN"); p != "" {
		return p
	}
	p, _ := filepath.Abs("../../bin/skiff")
	return p
}

// rssMB reads a process's resident set size from /proc.
func rssMB(pid int) float64 { return statusMB(pid, "VmRSS") }

// memoryBreakdown says where a server's memory is: from its /metrics, the Go
// heap in use, the heap goal, the free heap not yet returned to the OS, and
// stacks; from /proc/PID/smaps, the resident file pages by file (the largest
// three).
func memoryBreakdown(ctx context.Context, s *framework.Server) string {
	body, err := s.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return err.Error()
	}
	m := map[string]float64{}
	for _, l := range strings.Split(string(body), "\n") {
		if name, v, ok := strings.Cut(l, " "); ok && strings.HasPrefix(name, "go_memstats_") {
			f, _ := strconv.ParseFloat(v, 64)
			m[strings.TrimPrefix(name, "go_memstats_")] = f / (1 << 20)
		}
	}
	out := fmt.Sprintf("Go heap in use %.1f MB (goal %.1f MB), free heap held %.1f MB, stacks %.1f MB, Go runtime total %.1f MB",
		m["heap_inuse_bytes"], m["next_gc_bytes"], m["heap_idle_bytes"]-m["heap_released_bytes"], m["stack_inuse_bytes"], m["sys_bytes"]-m["heap_released_bytes"])
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", s.PID()))
	if err != nil {
		return out
	}
	files := map[string]float64{}
	var cur string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-"):
			cur = ""
			if len(f) >= 6 && strings.HasPrefix(f[5], "/") {
				cur = f[5]
			}
		case len(f) == 3 && f[0] == "Rss:" && cur != "":
			kb, _ := strconv.ParseFloat(f[1], 64)
			files[cur] += kb / 1024
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return files[names[i]] > files[names[j]] })
	for i, n := range names {
		if i == 3 {
			break
		}
		out += fmt.Sprintf("; %s %.1f MB", filepath.Base(n), files[n])
	}
	return out
}

// statusMB reads one memory field (VmRSS, RssAnon, RssFile) of /proc/PID/status in MB.
func statusMB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, field+":") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	return -1
}

func report(b *testing.B, format string, args ...any) {
	b.Helper()
	fmt.Printf("  "+format+"\n", args...)
}

// BenchmarkStartup times process start to /readyz on a fresh and on an existing data
// dir, and the idle RSS after the server settles.
func BenchmarkStartup(b *testing.B) {
	bin := binary(b)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		s, err := framework.Run(bin)
		if err != nil {
			b.Fatal(err)
		}
		fresh := time.Since(start)
		s.Halt()
		start = time.Now()
		if err := s.Resume(); err != nil {
			b.Fatal(err)
		}
		existing := time.Since(start)
		time.Sleep(30 * time.Second) // let start-up work settle and the first trims run
		pid := s.PID()
		rss, anon, file := rssMB(pid), statusMB(pid, "RssAnon"), statusMB(pid, "RssFile")
		s.Close()
		report(b, "start to /readyz and the controllers running (default ServiceAccount made): fresh %v, existing data dir %v", fresh.Round(time.Millisecond), existing.Round(time.Millisecond))
		report(b, "idle RSS (whole control plane, one process): %.1f MB = %.1f MB anonymous + %.1f MB of the binary's pages", rss, anon, file)
		b.ReportMetric(fresh.Seconds()*1000, "ms-ready-fresh")
		b.ReportMetric(existing.Seconds()*1000, "ms-ready-existing")
		b.ReportMetric(rss, "MB-idle-rss")
		b.ReportMetric(anon, "MB-idle-anon")
	}
}

type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[int(float64(len(l)-1)*p)]
}

// load runs op from n clients for total operations and reports p50/p99 and rate.
func load(b *testing.B, name string, clients, total int, op func(worker, i int) error) {
	var mu sync.Mutex
	var all latencies
	var errs int
	per := total / clients
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			mine := make(latencies, 0, per)
			for i := 0; i < per; i++ {
				t0 := time.Now()
				err := op(w, i)
				mine = append(mine, time.Since(t0))
				if err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	rate := float64(len(all)) / el.Seconds()
	report(b, "%-28s clients=%-3d n=%-6d p50=%-9v p99=%-9v %7.0f/s errors=%d", name, clients, len(all),
		all.pct(0.50).Round(10*time.Microsecond), all.pct(0.99).Round(10*time.Microsecond), rate, errs)
	metric := strings.ReplaceAll(name, " ", "-")
	b.ReportMetric(rate, fmt.Sprintf("%s-c%d-ops/s", metric, clients))
	b.ReportMetric(float64(all.pct(0.99).Microseconds())/1000, fmt.Sprintf("%s-c%d-p99-ms", metric, clients))
}

// BenchmarkAPI measures create, get, list and watch delivery of ConfigMaps at 1 and
// 50 concurrent clients.
func BenchmarkAPI(b *testing.B) {
	s, err := runServer(b)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	cfg := *s.Config
	cfg.QPS, cfg.Burst = -1, 0 // no client-side throttling
	clientset, err := newClient(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, ns := range []string{"bench"} {
		if _, err := clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	cms := clientset.CoreV1().ConfigMaps("bench")
	for i := 0; i < b.N; i++ {
		for _, c := range []int{1, 50} {
			prefix := fmt.Sprintf("c%d-%s", c, rand.String(4))
			n := 500
			if c > 1 {
				n = 5000
			}
			load(b, "create configmap", c, n, func(w, i int) error {
				_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d-%d", prefix, w, i)},
					Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
				return err
			})
			load(b, "get configmap", c, n, func(w, i int) error {
				_, err := cms.Get(ctx, fmt.Sprintf("%s-%d-%d", prefix, w, i), metav1.GetOptions{})
				return err
			})
		}
		load(b, "list 5500 configmaps", 1, 20, func(w, i int) error {
			_, err := cms.List(ctx, metav1.ListOptions{})
			return err
		})
		watchDelivery(b, clientset)
		report(b, "RSS after load: %.1f MB", rssMB(s.PID()))
	}
}

func runServer(b *testing.B) (*framework.Server, error) { return framework.Run(binary(b)) }
