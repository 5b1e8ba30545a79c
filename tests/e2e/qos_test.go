package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestQOSCgroups checks upstream's QoS cgroup hierarchy (cgroupfs driver)
// under the agent's --cgroup-root: a Guaranteed pod in kubepods/pod<uid>,
// Burstable and BestEffort pods under kubepods/burstable and
// kubepods/besteffort, with the pod-level limits upstream's kubelet sets,
// the containers' cgroups below their pod's, and all of it kept when skiff
// is killed and re-adopts the pods.
func TestQOSCgroups(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("needs cgroup v1 (cpu and memory hierarchies)")
	}
	n := kubeletStart(t)
	ctx := context.Background()

	res := func(req, lim corev1.ResourceList) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: req, Limits: lim}
	}
	list := cpuMemList
	mk := func(name string, rs ...corev1.ResourceRequirements) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(int64(1))},
		}
		for i, r := range rs {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
				Name: "c" + string(rune('0'+i)), Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
				Args: []string{"sleep", "3600"}, Resources: r,
			})
		}
		p, err := n.s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Guaranteed: 250m+250m CPU and 32Mi+32Mi memory, limits = requests.
	g := mk("guaranteed", res(list("250m", "32Mi"), list("250m", "32Mi")), res(list("250m", "32Mi"), list("250m", "32Mi")))
	// Burstable: both containers limit memory, one only limits CPU.
	b := mk("burstable", res(list("100m", "16Mi"), list("", "64Mi")), res(list("50m", ""), list("200m", "32Mi")))
	be := mk("besteffort", res(nil, nil))
	// Pod-level resources (the containers set none): Guaranteed, and they
	// alone are the pod cgroup's limits.
	pl := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "podlevel"}, Spec: corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr.To(int64(1)),
		Resources:                     &corev1.ResourceRequirements{Requests: list("500m", "64Mi"), Limits: list("500m", "64Mi")},
		Containers:                    []corev1.Container{agnhost("c0", "sleep", "3600")},
	}}
	pl, err := n.s.Client.CoreV1().Pods("default").Create(ctx, pl, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	running := func(p *corev1.Pod) bool {
		if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Running == nil {
				return false
			}
		}
		return true
	}
	ids := map[string][]string{}
	for _, p := range []*corev1.Pod{g, b, be, pl} {
		got := n.waitPod(t, p.Name, "Running", running)
		for _, c := range got.Status.ContainerStatuses {
			ids[p.Name] = append(ids[p.Name], strings.TrimPrefix(c.ContainerID, "containerd://"))
		}
	}
	if q := n.waitPod(t, "burstable", "Running", running).Status.QOSClass; q != corev1.PodQOSBurstable {
		t.Fatalf("burstable pod's QoS class %s", q)
	}
	if q := n.waitPod(t, "podlevel", "Running", running).Status.QOSClass; q != corev1.PodQOSGuaranteed {
		t.Fatalf("podlevel pod's QoS class %s", q)
	}

	kubepods := filepath.Join(n.cgroup, "kubepods")
	read := func(ctrl, dir, file string) string {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, dir, file))
		if err != nil {
			t.Errorf("%v", err)
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	const unlimited = "9223372036854771712" // memory.limit_in_bytes with no limit (4 KiB pages)
	check := func() {
		t.Helper()
		for _, tc := range []struct {
			pod                   *corev1.Pod
			dir                   string
			shares, quota, memory string
		}{
			// 500m → 512 shares, 50 ms per 100 ms, 64Mi.
			{g, filepath.Join(kubepods, "pod"+string(g.UID)), "512", "50000", "67108864"},
			// 150m → 153 shares; no quota (c0 has no CPU limit); 96Mi.
			{b, filepath.Join(kubepods, "burstable", "pod"+string(b.UID)), "153", "-1", "100663296"},
			{be, filepath.Join(kubepods, "besteffort", "pod"+string(be.UID)), "2", "-1", unlimited},
			{pl, filepath.Join(kubepods, "pod"+string(pl.UID)), "512", "50000", "67108864"},
		} {
			if got := read("cpu", tc.dir, "cpu.shares"); got != tc.shares {
				t.Errorf("%s: cpu.shares %s, want %s", tc.pod.Name, got, tc.shares)
			}
			if got := read("cpu", tc.dir, "cpu.cfs_quota_us"); got != tc.quota {
				t.Errorf("%s: cpu.cfs_quota_us %s, want %s", tc.pod.Name, got, tc.quota)
			}
			if got := read("memory", tc.dir, "memory.limit_in_bytes"); got != tc.memory {
				t.Errorf("%s: memory.limit_in_bytes %s, want %s", tc.pod.Name, got, tc.memory)
			}
			for _, id := range ids[tc.pod.Name] {
				for _, ctrl := range []string{"cpu", "memory", "pids"} {
					if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, tc.dir, id)); err != nil {
						t.Errorf("%s: container %s not under its pod's cgroup: %v", tc.pod.Name, id, err)
					}
				}
			}
		}
		if got := read("cpu", filepath.Join(kubepods, "besteffort"), "cpu.shares"); got != "2" {
			t.Errorf("besteffort QoS cgroup cpu.shares %s, want 2", got)
		}
		// kubepods is held to the node's allocatable (upstream's default
		// --enforce-node-allocatable=pods): all CPUs' shares, and the
		// allocatable memory as its limit (which the kernel rounds down to
		// whole pages).
		node, err := n.s.Client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("get node: %v", err)
		} else {
			cpus, mem := node.Status.Allocatable[corev1.ResourceCPU], node.Status.Allocatable[corev1.ResourceMemory]
			if want, got := strconv.FormatInt(cpus.Value()*1024, 10), read("cpu", kubepods, "cpu.shares"); got != want {
				t.Errorf("kubepods cpu.shares %s, want %s (%s CPUs allocatable)", got, want, cpus.String())
			}
			page := int64(os.Getpagesize())
			if want, got := strconv.FormatInt(mem.Value()/page*page, 10), read("memory", kubepods, "memory.limit_in_bytes"); got != want {
				t.Errorf("kubepods memory.limit_in_bytes %s, want %s (allocatable %s)", got, want, mem.String())
			}
		}
		// The burstable class gets its pods' CPU requests (150m → 153).
		var last string
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			last = read("cpu", filepath.Join(kubepods, "burstable"), "cpu.shares")
			return last == "153", nil
		})
		if err != nil {
			t.Errorf("burstable QoS cgroup cpu.shares %s, want 153", last)
		}
	}
	check()

	// The pod's cgroup is the one its usage is read from.
	out := n.s.Kubectl(t, "get", "--raw", "/api/v1/nodes/"+n.name+"/proxy/stats/summary")
	if !strings.Contains(out, `"name":"guaranteed"`) || !strings.Contains(out, `"workingSetBytes"`) {
		t.Errorf("stats summary without the pods' usage:\n%.2000s", out)
	}

	t.Run("ReadoptAfterKill9", func(t *testing.T) {
		n.s.Kill()
		n.s.Restart(t)
		n.waitReady(t)
		time.Sleep(3 * time.Second)
		for _, p := range []*corev1.Pod{g, b, be} {
			got := n.waitPod(t, p.Name, "Running", running)
			for i, c := range got.Status.ContainerStatuses {
				if id := strings.TrimPrefix(c.ContainerID, "containerd://"); c.RestartCount != 0 || id != ids[p.Name][i] {
					t.Errorf("%s/%s after restart: container %s (was %s), restartCount %d", p.Name, c.Name, id, ids[p.Name][i], c.RestartCount)
				}
			}
		}
		check()
	})

	t.Run("DeleteRemovesPodCgroup", func(t *testing.T) {
		if err := n.s.Client.CoreV1().Pods("default").Delete(ctx, be.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join("/sys/fs/cgroup/cpu", kubepods, "besteffort", "pod"+string(be.UID))
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			_, err := os.Stat(dir)
			return os.IsNotExist(err), nil
		})
		if err != nil {
			t.Errorf("%s still there after the pod's deletion", dir)
		}
	})
}

// TestQOSCgroupsUpgrade starts a node with an earlier skiff
// ($SKIFF_PREV_BIN, which put pods in <root>/pod<uid>), then the one under
// test on the same data: the old pod is re-adopted, its restarted container
// stays in the pod's recorded cgroup, its deletion removes that cgroup, and
// a new pod goes into the QoS hierarchy.
func TestQOSCgroupsUpgrade(t *testing.T) {
	prev := os.Getenv("SKIFF_PREV_BIN")
	if prev == "" {
		t.Skip("set SKIFF_PREV_BIN to a skiff built before the QoS cgroups")
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("needs cgroup v1 (cpu and memory hierarchies)")
	}
	bin := framework.Binary(t)
	t.Setenv("SKIFF_BIN", prev)
	n := kubeletStart(t)
	ctx := context.Background()
	old := n.createPod(t, "old", corev1.RestartPolicyAlways, "sleep", "3600")
	got := n.waitPod(t, "old", "Running", podRunning)
	id := strings.TrimPrefix(got.Status.ContainerStatuses[0].ContainerID, "containerd://")
	oldDir := filepath.Join(n.cgroup, "pod"+string(old.UID))
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/pids", oldDir, id)); err != nil {
		t.Fatalf("the earlier skiff's layout: %v", err)
	}

	n.s.Kill()
	n.s.Bin = bin
	n.s.Restart(t)
	n.waitReady(t)
	time.Sleep(3 * time.Second)
	got = n.waitPod(t, "old", "Running", podRunning)
	if c := got.Status.ContainerStatuses[0]; c.ContainerID != "containerd://"+id || c.RestartCount != 0 {
		t.Fatalf("old pod not re-adopted: %+v", c)
	}

	// Its container dies: the next one goes into the pod's recorded cgroup.
	procs, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids", oldDir, id, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(procs))[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got = n.waitPod(t, "old", "restarted", func(p *corev1.Pod) bool {
		return podRunning(p) && p.Status.ContainerStatuses[0].RestartCount == 1
	})
	id2 := strings.TrimPrefix(got.Status.ContainerStatuses[0].ContainerID, "containerd://")
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/pids", oldDir, id2)); err != nil {
		t.Errorf("restarted container outside its pod's recorded cgroup: %v", err)
	}

	fresh := n.createPod(t, "fresh", corev1.RestartPolicyAlways, "sleep", "3600")
	n.waitPod(t, "fresh", "Running", podRunning)
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/cpu", n.cgroup, "kubepods", "besteffort", "pod"+string(fresh.UID))); err != nil {
		t.Errorf("new pod outside the QoS hierarchy: %v", err)
	}

	if err := n.s.Client.CoreV1().Pods("default").Delete(ctx, "old", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		_, err := os.Stat(filepath.Join("/sys/fs/cgroup/cpu", oldDir))
		return os.IsNotExist(err), nil
	})
	if err != nil {
		t.Errorf("%s still there after the old pod's deletion", oldDir)
	}
}
