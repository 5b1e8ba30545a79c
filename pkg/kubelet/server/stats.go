package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) getPods(w http.ResponseWriter, r *http.Request) {
	list := &corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range s.cfg.Host.GetPods() {
		list.Items = append(list.Items, *p)
	}
	writeJSON(w, list)
}

func (s *Server) getStatsSummary(w http.ResponseWriter, r *http.Request) {
	sum, err := s.cfg.Host.StatsSummary(r.Context())
	if err != nil {
		http.Error(w, fmt.Sprintf("failed to get stats summary: %v", err), http.StatusInternalServerError)
		return
	}
	writeJSON(w, sum)
}

// getMetricsResource serves upstream's /metrics/resource: the CPU and memory series
// metrics-server (and our apiserver's metrics.k8s.io) read, in Prometheus text format.
func (s *Server) getMetricsResource(w http.ResponseWriter, r *http.Request) {
	sum, err := s.cfg.Host.StatsSummary(r.Context())
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(formatResourceMetrics(sum, err != nil))
}

type sample struct {
	labels string
	value  float64
	ms     int64
}

func formatResourceMetrics(sum *statsapi.Summary, scrapeError bool) []byte {
	series := map[string][]sample{}
	add := func(name, labels string, v float64, t metav1.Time) {
		series[name] = append(series[name], sample{labels, v, t.UnixMilli()})
	}
	cpu := func(name, labels string, c *statsapi.CPUStats) {
		if c != nil && c.UsageCoreNanoSeconds != nil {
			add(name, labels, float64(*c.UsageCoreNanoSeconds)/1e9, c.Time)
		}
	}
	mem := func(name, labels string, m *statsapi.MemoryStats) {
		if m != nil && m.WorkingSetBytes != nil {
			add(name, labels, float64(*m.WorkingSetBytes), m.Time)
		}
	}
	if sum != nil {
		cpu("node_cpu_usage_seconds_total", "", sum.Node.CPU)
		mem("node_memory_working_set_bytes", "", sum.Node.Memory)
		for _, p := range sum.Pods {
			pl := fmt.Sprintf("namespace=%q,pod=%q", p.PodRef.Namespace, p.PodRef.Name)
			cpu("pod_cpu_usage_seconds_total", pl, p.CPU)
			mem("pod_memory_working_set_bytes", pl, p.Memory)
			for _, c := range p.Containers {
				cl := fmt.Sprintf("container=%q,%s", c.Name, pl)
				cpu("container_cpu_usage_seconds_total", cl, c.CPU)
				mem("container_memory_working_set_bytes", cl, c.Memory)
				if !c.StartTime.IsZero() {
					series["container_start_time_seconds"] = append(series["container_start_time_seconds"],
						sample{cl, float64(c.StartTime.UnixNano()) / 1e9, c.StartTime.UnixMilli()})
				}
			}
		}
	}
	var b bytes.Buffer
	for _, m := range resourceMetrics {
		samples := series[m.name]
		if m.name == "resource_scrape_error" {
			v := 0.0
			if scrapeError {
				v = 1
			}
			samples = []sample{{value: v}}
		}
		if len(samples) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# HELP %s [STABLE] %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.kind)
		for _, s := range samples {
			b.WriteString(m.name)
			if s.labels != "" {
				b.WriteString("{" + s.labels + "}")
			}
			fmt.Fprintf(&b, " %s", formatFloat(s.value))
			if s.ms != 0 {
				fmt.Fprintf(&b, " %d", s.ms)
			}
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func formatFloat(v float64) string {
	s := fmt.Sprintf("%g", v)
	if strings.Contains(s, "e+") {
		s = fmt.Sprintf("%.0f", v)
	}
	return s
}

// resourceMetrics are upstream's series, in the order it prints them.
var resourceMetrics = []struct{ name, kind, help string }{
	{"container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the container in core-seconds"},
	{"container_memory_working_set_bytes", "gauge", "Current working set of the container in bytes"},
	{"container_start_time_seconds", "gauge", "Start time of the container since unix epoch in seconds"},
	{"node_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the node in core-seconds"},
	{"node_memory_working_set_bytes", "gauge", "Current working set of the node in bytes"},
	{"pod_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the pod in core-seconds"},
	{"pod_memory_working_set_bytes", "gauge", "Current working set of the pod in bytes"},
	{"resource_scrape_error", "gauge", "1 if there was an error while getting container metrics, 0 otherwise"},
}
