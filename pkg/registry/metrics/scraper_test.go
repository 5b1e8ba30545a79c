package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// kubeletText is /metrics/resource as the kubelet serves it, at time t (ms) with the
// given cumulative CPU seconds for the node and the container.
func kubeletText(ms int64, nodeCPU, ctrCPU float64) string {
	return fmt.Sprintf(`# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="web",namespace="default",pod="p"} %g %d
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="web",namespace="default",pod="p"} 4.194304e+06 %d
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="web",namespace="default",pod="p"} 1.7e+09 %d
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total %g %d
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.073741824e+09 %d
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
`, ctrCPU, ms, ms, ms, nodeCPU, ms, ms)
}

func TestRateBetweenSamples(t *testing.T) {
	base := time.Now().Truncate(time.Second).UnixMilli()
	prev, err := parseResourceMetrics(strings.NewReader(kubeletText(base, 100, 1)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	last, err := parseResourceMetrics(strings.NewReader(kubeletText(base+2000, 101, 1.5)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, ok := nodeUsage(prev, last)
	if !ok {
		t.Fatal("no node usage")
	}
	// 1 core-second over 2 s is half a core.
	if got := u.cpu.String(); got != "500m" {
		t.Errorf("node cpu = %s, want 500m", got)
	}
	if got := u.memory.String(); got != "1Gi" {
		t.Errorf("node memory = %s, want 1Gi", got)
	}
	if u.window != 2*time.Second || u.at.UnixMilli() != base+2000 {
		t.Errorf("window %v at %v, want 2s at the later sample", u.window, u.at)
	}
	c, ok := containerUsage(prev, last, containerKey{"default", "p", "web"})
	if !ok {
		t.Fatal("no container usage")
	}
	if got := c.cpu.String(); got != "250m" {
		t.Errorf("container cpu = %s, want 250m", got)
	}
	if got := c.memory.String(); got != "4Mi" {
		t.Errorf("container memory = %s, want 4Mi", got)
	}
	if names := last.byPod[podKey{"default", "p"}]; len(names) != 1 || names[0] != "web" {
		t.Errorf("containers of default/p = %v", names)
	}
	// A counter that went back (a restart) gives no rate.
	if _, ok := nodeUsage(last, prev); ok {
		t.Error("usage from a counter going back")
	}
	if _, ok := containerUsage(prev, last, containerKey{"default", "p", "other"}); ok {
		t.Error("usage of an unknown container")
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	if _, err := parseResourceMetrics(strings.NewReader("node_cpu_usage_seconds_total{ 1\n"), time.Now()); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestScraperOnDemand(t *testing.T) {
	var scrapes atomic.Int64
	var cpu atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics/resource" {
			http.NotFound(w, r)
			return
		}
		n := scrapes.Add(1)
		fmt.Fprint(w, kubeletText(1_700_000_000_000+n*1000, float64(cpu.Add(1)), 1))
	}))
	defer srv.Close()
	clock := time.Unix(1_700_000_000, 0)
	s := newScraper(func() (*http.Transport, error) { return srv.Client().Transport.(*http.Transport), nil })
	s.now = func() time.Time { return clock }
	var slept time.Duration
	s.sleep = func(ctx context.Context, d time.Duration) error { slept += d; return nil }
	host := strings.TrimPrefix(srv.URL, "https://")

	// First ask: two samples, minWindow apart.
	prev, last, err := s.samples(context.Background(), "n1", host)
	if err != nil {
		t.Fatal(err)
	}
	if scrapes.Load() != 2 || slept != minWindow || prev == nil || last == nil {
		t.Fatalf("first ask: %d scrapes, slept %v", scrapes.Load(), slept)
	}
	if u, ok := nodeUsage(prev, last); !ok || u.cpu.String() != "1" {
		t.Fatalf("node usage %+v %v", u, ok)
	}
	// Within the resolution: served from what is known.
	clock = clock.Add(resolution / 2)
	if _, _, err := s.samples(context.Background(), "n1", host); err != nil || scrapes.Load() != 2 {
		t.Fatalf("cached ask: %d scrapes, %v", scrapes.Load(), err)
	}
	// After it: one more sample, the window ending at it.
	clock = clock.Add(resolution)
	p2, l2, err := s.samples(context.Background(), "n1", host)
	if err != nil || scrapes.Load() != 3 || p2 != last || l2 == last {
		t.Fatalf("refresh: %d scrapes, %v", scrapes.Load(), err)
	}
	// A kubelet that cannot be reached is remembered for the resolution.
	srv.Close()
	clock = clock.Add(2 * staleAfter)
	if _, _, err := s.samples(context.Background(), "n1", host); err == nil {
		t.Fatal("closed kubelet scraped")
	}
	if _, _, err := s.samples(context.Background(), "n1", host); err == nil {
		t.Fatal("failure forgotten")
	}
	// Nodes not asked about are forgotten.
	clock = clock.Add(2 * forgetAfter)
	_, _, _ = s.samples(context.Background(), "n2", "127.0.0.1:1")
	if _, ok := s.nodes["n1"]; ok {
		t.Error("idle node kept")
	}
}
