package runtime

import (
	"bufio"
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

// removePodCgroup removes a pod's now empty cgroup in every hierarchy; runc
// removes only the containers' own. Best effort: a cgroup still in use stays.
func removePodCgroup(parent string) {
	if parent == "" || parent == "/" {
		return
	}
	os.Remove(filepath.Join(cgroupMount, parent))
	entries, _ := os.ReadDir(cgroupMount)
	for _, e := range entries {
		if e.IsDir() {
			os.Remove(filepath.Join(cgroupMount, e.Name(), parent))
		}
	}
}
