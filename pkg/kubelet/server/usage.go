package server

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// UsageReader reads CPU and memory usage from cgroups (v1 or v2) in the Summary
// API's shapes, for the core's Host.StatsSummary:
//
//	var u server.UsageReader
//	cpu, mem, err := u.Cgroup("/skiff/burstable/pod<uid>")  // a pod's or container's cgroupsPath
//	cpu, mem, err := u.Node()
//
// UsageNanoCores is the rate since the previous read of the same cgroup (nil on the
// first); the cumulative UsageCoreNanoSeconds is what /metrics/resource exports.
// Memory working set is usage minus inactive file pages, as upstream computes it.
type UsageReader struct {
	// Root is where the cgroup hierarchies are mounted; /sys/fs/cgroup when empty.
	Root string
	// Meminfo is read for the node's memory; /proc/meminfo when empty.
	Meminfo string

	mu   sync.Mutex
	last map[string]cpuSample
}

type cpuSample struct {
	at    time.Time
	total uint64
}

func (u *UsageReader) root() string {
	if u.Root == "" {
		return "/sys/fs/cgroup"
	}
	return u.Root
}

// Cgroup reads the usage of the cgroup at path (relative to the hierarchy roots).
func (u *UsageReader) Cgroup(path string) (*statsapi.CPUStats, *statsapi.MemoryStats, error) {
	now := time.Now()
	r := u.root()
	v2 := filepath.Join(r, path)
	if _, err := os.Stat(filepath.Join(v2, "cgroup.controllers")); err == nil {
		usec, ok := readKey(filepath.Join(v2, "cpu.stat"), "usage_usec")
		if !ok {
			return nil, nil, fmt.Errorf("cgroup %s: no cpu.stat", path)
		}
		cur, err := readUint(filepath.Join(v2, "memory.current"))
		if err != nil {
			return nil, nil, fmt.Errorf("cgroup %s: %w", path, err)
		}
		inactive, _ := readKey(filepath.Join(v2, "memory.stat"), "inactive_file")
		anon, _ := readKey(filepath.Join(v2, "memory.stat"), "anon")
		limit, _ := readUint(filepath.Join(v2, "memory.max")) // "max" reads as no limit
		return u.cpu(path, now, usec*1000), memStats(now, cur, inactive, anon, limit), nil
	}
	ns, err := readUint(filepath.Join(r, "cpuacct", path, "cpuacct.usage"))
	if err != nil {
		return nil, nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	mdir := filepath.Join(r, "memory", path)
	cur, err := readUint(filepath.Join(mdir, "memory.usage_in_bytes"))
	if err != nil {
		return nil, nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	inactive, _ := readKey(filepath.Join(mdir, "memory.stat"), "total_inactive_file")
	rss, _ := readKey(filepath.Join(mdir, "memory.stat"), "total_rss")
	limit, _ := readUint(filepath.Join(mdir, "memory.limit_in_bytes"))
	if limit >= 1<<62 { // v1's "unlimited"
		limit = 0
	}
	return u.cpu(path, now, ns), memStats(now, cur, inactive, rss, limit), nil
}

// Node reads the whole machine's usage: CPU from the root cgroup, memory from
// /proc/meminfo (capacity minus free, less inactive file pages).
func (u *UsageReader) Node() (*statsapi.CPUStats, *statsapi.MemoryStats, error) {
	now := time.Now()
	r := u.root()
	var total uint64
	if usec, ok := readKey(filepath.Join(r, "cpu.stat"), "usage_usec"); ok {
		total = usec * 1000
	} else if ns, err := readUint(filepath.Join(r, "cpuacct", "cpuacct.usage")); err == nil {
		total = ns
	} else {
		return nil, nil, fmt.Errorf("node cpu usage: %w", err)
	}
	mi := u.Meminfo
	if mi == "" {
		mi = "/proc/meminfo"
	}
	memTotal, ok1 := readKey(mi, "MemTotal:")
	memFree, ok2 := readKey(mi, "MemFree:")
	inactive, _ := readKey(mi, "Inactive(file):")
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("node memory usage: cannot read %s", mi)
	}
	memTotal, memFree, inactive = memTotal*1024, memFree*1024, inactive*1024 // kB
	mem := memStats(now, memTotal-memFree, inactive, 0, memTotal)
	mem.RSSBytes = nil
	return u.cpu("/", now, total), mem, nil
}

func (u *UsageReader) cpu(key string, now time.Time, total uint64) *statsapi.CPUStats {
	s := &statsapi.CPUStats{Time: metav1.NewTime(now), UsageCoreNanoSeconds: &total}
	u.mu.Lock()
	defer u.mu.Unlock()
	if prev, ok := u.last[key]; ok && now.After(prev.at) && total >= prev.total {
		rate := uint64(float64(total-prev.total) / now.Sub(prev.at).Seconds())
		s.UsageNanoCores = &rate
	}
	if u.last == nil {
		u.last = map[string]cpuSample{}
	}
	u.last[key] = cpuSample{at: now, total: total}
	return s
}

func memStats(now time.Time, usage, inactiveFile, rss, limit uint64) *statsapi.MemoryStats {
	ws := uint64(0)
	if usage > inactiveFile {
		ws = usage - inactiveFile
	}
	m := &statsapi.MemoryStats{Time: metav1.NewTime(now), UsageBytes: &usage, WorkingSetBytes: &ws, RSSBytes: &rss}
	if limit > 0 && limit > ws {
		avail := limit - ws
		m.AvailableBytes = &avail
	}
	return m
}

// Forget drops the previous sample of a cgroup that is gone.
func (u *UsageReader) Forget(path string) {
	u.mu.Lock()
	delete(u.last, path)
	u.mu.Unlock()
}

func readUint(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKey reads "key value" (or "key: value kB") lines.
func readKey(file, key string) (uint64, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == key {
			n, err := strconv.ParseUint(fields[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
