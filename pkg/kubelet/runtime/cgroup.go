package runtime

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const cgroupMount = "/sys/fs/cgroup"

// cgroupOOMKilled reports whether the kernel OOM-killed a process in the
// container's cgroup. It reads the counters while the cgroup still exists
// (until the task is deleted): memory.oom_control on cgroup v1, memory.events
// on v2.
func cgroupOOMKilled(cgroupsPath string) bool {
	if cgroupsPath == "" {
		return false
	}
	for _, f := range []string{
		filepath.Join(cgroupMount, "memory", cgroupsPath, "memory.oom_control"),
		filepath.Join(cgroupMount, cgroupsPath, "memory.events"),
	} {
		if n, ok := readCounter(f, "oom_kill"); ok {
			return n > 0
		}
	}
	return false
}

func readCounter(file, key string) (int64, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// joinCgroup moves pid into the cgroup path, created if missing, in every
// hierarchy (as runc places a container's processes), but cpuset's, whose
// new cgroups have no CPUs until set up (the process keeps the root's).
func joinCgroup(pid int, path string) error {
	for _, dir := range cgroupDirs(path) {
		if filepath.Base(strings.TrimSuffix(dir, path)) == "cpuset" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("move process %d to cgroup %s: %w", pid, dir, err)
		}
	}
	return nil
}

// inCgroup reports whether pid is in the cgroup path in one of its
// hierarchies (it is no other process that reused a holder's PID).
func inCgroup(pid int, path string) bool {
	if path == "" {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-ID:controllers:path
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && filepath.Clean(f[2]) == filepath.Clean(path) {
			return true
		}
	}
	return false
}

// removeCgroup removes the now empty cgroup path in every hierarchy, as a
// pod's, of which runc removes only the containers' own. Best effort: a
// cgroup still in use stays.
func removeCgroup(path string) {
	for _, dir := range cgroupDirs(path) {
		os.Remove(dir)
	}
}

// cgroupDirs is path in the unified hierarchy, or in each v1 hierarchy.
func cgroupDirs(path string) []string {
	if path == "" || path == "/" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(cgroupMount, "cgroup.controllers")); err == nil {
		return []string{filepath.Join(cgroupMount, path)}
	}
	var dirs []string
	entries, _ := os.ReadDir(cgroupMount)
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(cgroupMount, e.Name(), path))
		}
	}
	return dirs
}

// CgroupResources are the limits of a cgroup above the containers' (a pod's
// or a QoS class's), in cgroup v1 units. A zero field leaves the kernel's
// default (no limit, 1024 shares).
type CgroupResources struct {
	CPUShares   uint64
	CPUQuota    int64
	CPUPeriod   uint64
	MemoryLimit int64
}

// CgroupRoot is the cgroup under which the pods' cgroups live.
func (r *Runtime) CgroupRoot() string { return r.cfg.CgroupRoot }

// EnsureCgroup creates the cgroup path (cgroupfs layout, relative to the
// cgroup mount) in the cpu and memory controllers and writes res. runc
// creates the containers' cgroups below it, in every controller. On the
// cgroup v2 unified hierarchy the limits become cpu.weight, cpu.max and
// memory.max.
func EnsureCgroup(path string, res CgroupResources) error {
	if _, err := os.Stat(filepath.Join(cgroupMount, "cgroup.controllers")); err == nil {
		return ensureCgroupV2(path, res)
	}
	cpu := filepath.Join(cgroupMount, "cpu", path)
	mem := filepath.Join(cgroupMount, "memory", path)
	for _, d := range []string{cpu, mem} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", path, err)
		}
	}
	var files [][2]string
	if res.CPUShares > 0 {
		files = append(files, [2]string{filepath.Join(cpu, "cpu.shares"), strconv.FormatUint(res.CPUShares, 10)})
	}
	if res.CPUPeriod > 0 {
		files = append(files, [2]string{filepath.Join(cpu, "cpu.cfs_period_us"), strconv.FormatUint(res.CPUPeriod, 10)})
	}
	if res.CPUQuota != 0 {
		files = append(files, [2]string{filepath.Join(cpu, "cpu.cfs_quota_us"), strconv.FormatInt(res.CPUQuota, 10)})
	}
	if res.MemoryLimit > 0 {
		files = append(files, [2]string{filepath.Join(mem, "memory.limit_in_bytes"), strconv.FormatInt(res.MemoryLimit, 10)})
	}
	return writeCgroupFiles(path, files)
}

func ensureCgroupV2(path string, res CgroupResources) error {
	dir := filepath.Join(cgroupMount, path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", path, err)
	}
	// Delegate cpu and memory down to the new cgroup from the mount.
	parts := strings.Split(strings.Trim(filepath.Clean(path), "/"), "/")
	cur := cgroupMount
	for _, p := range parts {
		// Best effort: the root may already delegate them, or refuse a
		// controller the kernel lacks.
		_ = os.WriteFile(filepath.Join(cur, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644)
		cur = filepath.Join(cur, p)
	}
	var files [][2]string
	if res.CPUShares > 0 {
		// The conversion of runc and upstream's kubelet.
		weight := 1 + ((res.CPUShares-2)*9999)/262142
		files = append(files, [2]string{filepath.Join(dir, "cpu.weight"), strconv.FormatUint(weight, 10)})
	}
	if res.CPUQuota > 0 {
		period := res.CPUPeriod
		if period == 0 {
			period = 100000
		}
		files = append(files, [2]string{filepath.Join(dir, "cpu.max"), fmt.Sprintf("%d %d", res.CPUQuota, period)})
	}
	if res.MemoryLimit > 0 {
		files = append(files, [2]string{filepath.Join(dir, "memory.max"), strconv.FormatInt(res.MemoryLimit, 10)})
	}
	return writeCgroupFiles(path, files)
}

func writeCgroupFiles(path string, files [][2]string) error {
	for _, f := range files {
		if err := os.WriteFile(f[0], []byte(f[1]), 0o644); err != nil {
			return fmt.Errorf("set %s of cgroup %s: %w", filepath.Base(f[0]), path, err)
		}
	}
	return nil
}

// restrictOOMScoreAdj raises an OOM score adjustment below the agent's own
// to the agent's when the agent lacks CAP_SYS_RESOURCE (an unprivileged or
// restricted container, as containerd's restrict_oom_score_adj): runc
// could not lower it and the container would fail to start.
func restrictOOMScoreAdj(adj int) int {
	own, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return adj
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(own)))
	if err != nil || adj >= cur || hasCapSysResource() {
		return adj
	}
	return cur
}

func hasCapSysResource() bool {
	const capSysResource = 24
	if n, ok := readCapEff(); ok {
		return n&(1<<capSysResource) != 0
	}
	return true
}

func readCapEff() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}
