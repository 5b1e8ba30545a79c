package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Timing of the on-demand scrapes.
const (
	// resolution is how long a scrape serves requests before the next one, as
	// metrics-server's default --metric-resolution.
	resolution = 15 * time.Second
	// staleAfter drops a sample too old to be the start of a useful window: the next
	// request takes two fresh samples minWindow apart instead.
	staleAfter = time.Minute
	// minWindow is the shortest window a CPU rate is computed over.
	minWindow = time.Second
	// scrapeTimeout bounds one scrape of one kubelet.
	scrapeTimeout = 5 * time.Second
	// forgetAfter drops what is known of a node nobody asked about for that long.
	forgetAfter = 10 * time.Minute
	// maxBody bounds what is read of a kubelet's answer.
	maxBody = 64 << 20
)

// point is one series' cumulative CPU (core-seconds) and memory working set, each
// with the time the kubelet took it.
type point struct {
	cpu              float64
	cpuAt            time.Time
	hasCPU           bool
	memory           uint64
	memoryAt         time.Time
	hasMemory        bool
	containerStarted time.Time
}

type containerKey struct{ namespace, pod, container string }

// sample is one scrape of one kubelet's /metrics/resource.
type sample struct {
	at         time.Time
	node       point
	containers map[containerKey]*point
	// byPod lists the containers of each namespace/name, sorted.
	byPod map[podKey][]string
}

type podKey struct{ namespace, name string }

// usage is a rate-and-gauge reading derived from two samples.
type usage struct {
	at     time.Time
	window time.Duration
	cpu    resource.Quantity
	memory resource.Quantity
}

func (u usage) list() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: u.cpu, corev1.ResourceMemory: u.memory}
}

// between computes usage from an earlier and a later point, as metrics-server does:
// CPU as the rate of the cumulative counter, memory as the later working set. It is
// false when either lacks a series, the counter went back, or the window is empty.
func between(prev, last *point) (usage, bool) {
	if prev == nil || last == nil || !prev.hasCPU || !last.hasCPU || !last.hasMemory {
		return usage{}, false
	}
	if !prev.containerStarted.Equal(last.containerStarted) { // restarted in between
		return usage{}, false
	}
	window := last.cpuAt.Sub(prev.cpuAt)
	if window <= 0 || last.cpu < prev.cpu {
		return usage{}, false
	}
	nanoCores := (last.cpu - prev.cpu) / window.Seconds() * 1e9
	return usage{
		at:     last.cpuAt,
		window: window,
		cpu:    *resource.NewScaledQuantity(int64(math.Round(nanoCores)), resource.Nano),
		memory: *resource.NewQuantity(int64(last.memory), resource.BinarySI),
	}, true
}

// nodeState is what is known of one node's kubelet: its last two samples, or the
// last failure to scrape it.
type nodeState struct {
	// usedAt (unix nanoseconds) is read without mu, which a scrape holds for seconds.
	usedAt atomic.Int64

	mu         sync.Mutex
	prev, last *sample
	failedAt   time.Time
	failure    error
}

// scraper reads kubelets' /metrics/resource on demand and keeps the last two samples
// of each node, so a CPU rate can be computed; it holds no goroutine of its own.
type scraper struct {
	// transport reaches kubelets with the apiserver's kubelet-client certificate.
	transport func() (*http.Transport, error)
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	nodes map[string]*nodeState
}

func newScraper(transport func() (*http.Transport, error)) *scraper {
	return &scraper{transport: transport, now: time.Now, sleep: sleepCtx, nodes: map[string]*nodeState{}}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// samples returns the last two samples of the node whose kubelet is at hostPort,
// scraping it first when what is known is older than the resolution.
func (s *scraper) samples(ctx context.Context, node, hostPort string) (prev, last *sample, err error) {
	now := s.now()
	s.mu.Lock()
	st, ok := s.nodes[node]
	if !ok {
		st = &nodeState{}
		s.nodes[node] = st
	}
	st.usedAt.Store(now.UnixNano())
	for name, other := range s.nodes {
		if now.Sub(time.Unix(0, other.usedAt.Load())) > forgetAfter {
			delete(s.nodes, name)
		}
	}
	s.mu.Unlock()

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.last != nil && st.prev != nil && now.Sub(st.last.at) < resolution {
		return st.prev, st.last, nil
	}
	if st.failure != nil && now.Sub(st.failedAt) < resolution {
		return nil, nil, st.failure
	}
	if st.last == nil || now.Sub(st.last.at) > staleAfter {
		first, err := s.scrape(ctx, hostPort)
		if err != nil {
			return nil, nil, st.fail(now, err)
		}
		st.prev, st.last = nil, first
		if err := s.sleep(ctx, minWindow); err != nil {
			return nil, nil, err
		}
	}
	next, err := s.scrape(ctx, hostPort)
	if err != nil {
		return nil, nil, st.fail(now, err)
	}
	st.prev, st.last, st.failure = st.last, next, nil
	return st.prev, st.last, nil
}

func (st *nodeState) fail(now time.Time, err error) error {
	st.prev, st.last = nil, nil
	st.failedAt, st.failure = now, err
	return err
}

// scrape reads one kubelet's /metrics/resource.
func (s *scraper) scrape(ctx context.Context, hostPort string) (*sample, error) {
	rt, err := s.transport()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+hostPort+"/metrics/resource", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET /metrics/resource: %s: %s", resp.Status, body)
	}
	return parseResourceMetrics(io.LimitReader(resp.Body, maxBody), s.now())
}

// parseResourceMetrics reads the Prometheus text the kubelet's /metrics/resource
// serves. Samples without a timestamp are taken at scrapedAt.
func parseResourceMetrics(r io.Reader, scrapedAt time.Time) (*sample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics/resource: %w", err)
	}
	s := &sample{at: scrapedAt, containers: map[containerKey]*point{}}
	at := func(m *dto.Metric) time.Time {
		if m.TimestampMs != nil {
			return time.UnixMilli(m.GetTimestampMs())
		}
		return scrapedAt
	}
	value := func(m *dto.Metric) (float64, bool) {
		var v float64
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		default:
			return 0, false
		}
		return v, !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0
	}
	container := func(m *dto.Metric) *point {
		var k containerKey
		for _, l := range m.Label {
			switch l.GetName() {
			case "namespace":
				k.namespace = l.GetValue()
			case "pod":
				k.pod = l.GetValue()
			case "container":
				k.container = l.GetValue()
			}
		}
		if k.namespace == "" || k.pod == "" || k.container == "" {
			return nil
		}
		p := s.containers[k]
		if p == nil {
			p = &point{}
			s.containers[k] = p
		}
		return p
	}
	for name, f := range families {
		for _, m := range f.Metric {
			v, ok := value(m)
			if !ok {
				continue
			}
			switch name {
			case "node_cpu_usage_seconds_total":
				s.node.cpu, s.node.cpuAt, s.node.hasCPU = v, at(m), true
			case "node_memory_working_set_bytes":
				s.node.memory, s.node.memoryAt, s.node.hasMemory = uint64(v), at(m), true
			case "container_cpu_usage_seconds_total":
				if p := container(m); p != nil {
					p.cpu, p.cpuAt, p.hasCPU = v, at(m), true
				}
			case "container_memory_working_set_bytes":
				if p := container(m); p != nil {
					p.memory, p.memoryAt, p.hasMemory = uint64(v), at(m), true
				}
			case "container_start_time_seconds":
				if p := container(m); p != nil {
					sec, frac := math.Modf(v)
					p.containerStarted = time.Unix(int64(sec), int64(frac*1e9)).Truncate(time.Millisecond)
				}
			}
		}
	}
	s.byPod = map[podKey][]string{}
	for k := range s.containers {
		pk := podKey{k.namespace, k.pod}
		s.byPod[pk] = append(s.byPod[pk], k.container)
	}
	for _, names := range s.byPod {
		sort.Strings(names)
	}
	return s, nil
}

// nodeUsage is a node's usage between two samples.
func nodeUsage(prev, last *sample) (usage, bool) {
	if prev == nil || last == nil {
		return usage{}, false
	}
	return between(&prev.node, &last.node)
}

// containerUsage is a container's usage between two samples.
func containerUsage(prev, last *sample, k containerKey) (usage, bool) {
	if prev == nil || last == nil {
		return usage{}, false
	}
	return between(prev.containers[k], last.containers[k])
}
