package server

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUsageReaderV2(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"pod1/cgroup.controllers": "cpu memory\n",
		"pod1/cpu.stat":           "usage_usec 1500000\nuser_usec 1000000\n",
		"pod1/memory.current":     "10000\n",
		"pod1/memory.stat":        "anon 6000\ninactive_file 3000\n",
		"pod1/memory.max":         "max\n",
	})
	u := &UsageReader{Root: root}
	cpu, mem, err := u.Cgroup("pod1")
	if err != nil {
		t.Fatal(err)
	}
	if *cpu.UsageCoreNanoSeconds != 1_500_000_000 || cpu.UsageNanoCores != nil || *mem.WorkingSetBytes != 7000 || *mem.RSSBytes != 6000 || mem.AvailableBytes != nil {
		t.Fatalf("cpu %+v mem %+v", cpu, mem)
	}
	writeFiles(t, root, map[string]string{"pod1/cpu.stat": "usage_usec 2500000\n"})
	if cpu, _, _ = u.Cgroup("pod1"); cpu.UsageNanoCores == nil || *cpu.UsageNanoCores == 0 {
		t.Fatal("no rate on the second read")
	}
}

func TestUsageReaderV1AndNode(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"cpuacct/cpuacct.usage":             "9000000000\n",
		"cpuacct/pod1/cpuacct.usage":        "2000000000\n",
		"memory/pod1/memory.usage_in_bytes": "8192\n",
		"memory/pod1/memory.stat":           "cache 100\ntotal_rss 4096\ntotal_inactive_file 1024\n",
		"memory/pod1/memory.limit_in_bytes": "16384\n",
		"meminfo":                           "MemTotal:       1000 kB\nMemFree:         200 kB\nInactive(file):  300 kB\n",
	})
	u := &UsageReader{Root: root, Meminfo: filepath.Join(root, "meminfo")}
	cpu, mem, err := u.Cgroup("pod1")
	if err != nil {
		t.Fatal(err)
	}
	if *cpu.UsageCoreNanoSeconds != 2_000_000_000 || *mem.WorkingSetBytes != 7168 || *mem.RSSBytes != 4096 || *mem.AvailableBytes != 16384-7168 {
		t.Fatalf("cpu %+v mem %+v", cpu, mem)
	}
	cpu, mem, err = u.Node()
	if err != nil {
		t.Fatal(err)
	}
	if *cpu.UsageCoreNanoSeconds != 9_000_000_000 || *mem.UsageBytes != 800*1024 || *mem.WorkingSetBytes != 500*1024 {
		t.Fatalf("node cpu %+v mem %+v", cpu, mem)
	}
	// The machine's own files read too.
	if _, _, err := (&UsageReader{}).Node(); err != nil {
		t.Fatalf("this machine: %v", err)
	}
}
