package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerdclient "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/google/go-containerregistry/pkg/registry"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/registries"
	"github.com/skiff-k8s/skiff/pkg/nspin"
	"github.com/skiff-k8s/skiff/tests/nodetest"
)

// rtEnv is a runtime on its own containerd, with the test images imported.
type rtEnv struct {
	rt      *runtime.Runtime
	cfg     runtime.Config
	logRoot string
}

// rtStart starts containerd (pkg/agent/containerd) and a Runtime on it with
// its logs, FIFOs and pod cgroups under names of this test only.
func rtStart(t *testing.T, mod func(*runtime.Config)) *rtEnv {
	t.Helper()
	p, _ := ctdStart(t, nil)
	cgroupRoot := "/skiff-e2e-" + netRandomHex(t, 4)
	t.Cleanup(func() { nodetest.RemoveCgroup(cgroupRoot) })
	cfg := runtime.Config{
		Address:     p.Address(),
		Snapshotter: p.Snapshotter(),
		LogRoot:     filepath.Join(t.TempDir(), "pods"),
		RootDir:     filepath.Join(t.TempDir(), "runtime"),
		CgroupRoot:  cgroupRoot,
		Logf:        t.Logf,
	}
	if mod != nil {
		mod(&cfg)
	}
	rt, err := runtime.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := &rtEnv{rt: rt, cfg: cfg, logRoot: cfg.LogRoot}
	// Registered after containerd's cleanup, so it runs before it. A fresh
	// Runtime does the removal: a failed test may leave env.rt closed, and
	// containers left running would outlive containerd in their shims.
	t.Cleanup(func() {
		ctx := context.Background()
		env.rt.Close()
		rt, err := runtime.New(ctx, env.cfg)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer rt.Close()
		sbs, _ := rt.ListSandboxes(ctx, nil)
		for _, sb := range sbs {
			if err := rt.RemoveSandbox(ctx, sb.ID); err != nil {
				t.Errorf("remove sandbox: %v", err)
			}
		}
	})
	dir := ctdImages(t)
	for _, f := range []string{"agnhost-lite.tar", "busybox.tar"} {
		r, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := rt.ImportImages(context.Background(), r)
		r.Close()
		if err != nil {
			t.Fatalf("import %s: %v", f, err)
		}
		if len(imgs) != 1 {
			t.Fatalf("import %s: %d images", f, len(imgs))
		}
	}
	return env
}

func (e *rtEnv) sandbox(t *testing.T, name, netns string) *runtime.Sandbox {
	t.Helper()
	sb, err := e.rt.CreateSandbox(context.Background(), runtime.SandboxConfig{
		UID: "uid-" + netRandomHex(t, 4), Namespace: "default", Name: name, NetNSPath: netns,
		Labels: map[string]string{"test": t.Name()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// run creates and starts a container and returns its id.
func (e *rtEnv) run(t *testing.T, sb *runtime.Sandbox, cfg runtime.ContainerConfig) string {
	t.Helper()
	ctx := context.Background()
	if cfg.Image == "" {
		cfg.Image = ctdAgnhostRef
	}
	id, err := e.rt.CreateContainer(ctx, sb.ID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitExited polls (generously) until the container has exited and its exit is recorded.
func (e *rtEnv) waitExited(t *testing.T, id string) *runtime.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := e.rt.ContainerStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == runtime.StateExited && !st.FinishedAt.IsZero() {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not exit: %+v", id, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *rtEnv) logs(t *testing.T, id string, opts logs.ReadOptions) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := e.rt.ReadContainerLogs(context.Background(), id, opts, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String()
}

func (e *rtEnv) exec(t *testing.T, id string, cmd ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code, err := e.rt.Exec(ctx, id, cmd, runtime.ExecOptions{Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	return code, out.String()
}

func TestRuntime(t *testing.T) {
	env := rtStart(t, nil)
	ctx := context.Background()

	t.Run("images", func(t *testing.T) {
		img, err := env.rt.GetImage(ctx, ctdAgnhostRef)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(img.ID, "sha256:") || img.Size <= 0 || len(img.RepoTags) != 1 || img.RepoTags[0] != ctdAgnhostRef || len(img.RepoDigests) != 1 {
			t.Errorf("image %+v", img)
		}
		if byID, err := env.rt.GetImage(ctx, img.ID); err != nil || byID.ID != img.ID {
			t.Errorf("by id: %v %v", byID, err)
		}
		list, err := env.rt.ListImages(ctx)
		if err != nil || len(list) != 2 {
			t.Errorf("list: %d images, %v", len(list), err)
		}
		if got, err := env.rt.EnsureImage(ctx, ctdBusyboxRef, corev1.PullNever, nil); err != nil || got.RepoTags[0] != ctdBusyboxRef {
			t.Errorf("present image with Never: %v %v", got, err)
		}
		_, err = env.rt.EnsureImage(ctx, "skiff.test/missing:1", corev1.PullNever, nil)
		if !errors.Is(err, runtime.ErrImageNeverPull) || err.Error() != `Container image "skiff.test/missing:1" is not present with pull policy of Never` {
			t.Errorf("missing image with Never: %v", err)
		}
		// No registry is reachable: a pull fails as ErrImagePull with the resolver's message.
		_, err = env.rt.EnsureImage(ctx, "127.0.0.1:1/missing:1", corev1.PullIfNotPresent, nil)
		if !errors.Is(err, runtime.ErrImagePull) || !strings.Contains(err.Error(), `failed to pull and unpack image "127.0.0.1:1/missing:1"`) {
			t.Errorf("pull from nowhere: %v", err)
		}
		if n, _ := runtime.NormalizeImageRef("busybox"); n != "docker.io/library/busybox:latest" {
			t.Errorf("normalised busybox: %s", n)
		}
	})

	t.Run("pod IPC namespace", func(t *testing.T) {
		host, err := os.Readlink("/proc/self/ns/ipc")
		if err != nil {
			t.Fatal(err)
		}
		ipcOf := func(id string) string {
			t.Helper()
			code, out := env.exec(t, id, "readlink", "/proc/self/ns/ipc")
			if code != 0 {
				t.Fatalf("readlink in %s: %d %s", id, code, out)
			}
			return strings.TrimSpace(out)
		}
		sleeper := func(name string) runtime.ContainerConfig {
			return runtime.ContainerConfig{Name: name, Command: []string{"sleep", "3600"}, Image: ctdBusyboxRef}
		}
		// A pod's containers share one IPC namespace, not the host's.
		sb := env.sandbox(t, "ipc", "")
		a, b := env.run(t, sb, sleeper("a")), env.run(t, sb, sleeper("b"))
		if ia, ib := ipcOf(a), ipcOf(b); ia != ib || ia == host {
			t.Errorf("IPC namespaces: a %s, b %s, host %s; want a = b != host", ia, ib, host)
		}
		// And one /dev/shm.
		if code, out := env.exec(t, a, "sh", "-c", "echo shared > /dev/shm/x"); code != 0 {
			t.Fatalf("write /dev/shm: %d %s", code, out)
		}
		if code, out := env.exec(t, b, "cat", "/dev/shm/x"); code != 0 || out != "shared\n" {
			t.Errorf("the other container's /dev/shm/x: %d %q", code, out)
		}
		// hostIPC: the host's.
		hsb, err := env.rt.CreateSandbox(ctx, runtime.SandboxConfig{UID: "uid-" + netRandomHex(t, 4), Namespace: "default",
			Name: "host-ipc", HostIPC: true, Labels: map[string]string{"test": t.Name()}})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := env.rt.GetSandbox(ctx, hsb.ID); err != nil || !got.HostIPC {
			t.Errorf("sandbox record: %+v %v", got, err)
		}
		h := env.run(t, hsb, sleeper("h"))
		if ih := ipcOf(h); ih != host {
			t.Errorf("hostIPC container's IPC namespace %s, want the host's %s", ih, host)
		}
		hostFile := "/dev/shm/skiff-e2e-" + netRandomHex(t, 4)
		if err := os.WriteFile(hostFile, []byte("host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(hostFile)
		if code, out := env.exec(t, h, "cat", hostFile); code != 0 || out != "host\n" {
			t.Errorf("hostIPC container's %s: %d %q", hostFile, code, out)
		}
		// Removing the sandbox unpins its namespace.
		for _, id := range []string{sb.ID, hsb.ID} {
			if err := env.rt.RemoveSandbox(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		mounts, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(mounts), sb.ID) {
			t.Errorf("a mount of removed sandbox %s is left", sb.ID)
		}
	})

	t.Run("pod PID namespace", func(t *testing.T) {
		ctx := context.Background()
		sleeper := func(name string) runtime.ContainerConfig {
			return runtime.ContainerConfig{Name: name, Command: []string{"sleep", "3600"}, Image: ctdBusyboxRef}
		}
		pidNS := func(id string) string {
			t.Helper()
			code, out := env.exec(t, id, "readlink", "/proc/self/ns/pid")
			if code != 0 {
				t.Fatalf("readlink in %s: %d %s", id, code, out)
			}
			return strings.TrimSpace(out)
		}
		sb, err := env.rt.CreateSandbox(ctx, runtime.SandboxConfig{UID: "uid-" + netRandomHex(t, 4), Namespace: "default",
			Name: "shared-pid", SharePID: true, CgroupParent: filepath.Join(env.cfg.CgroupRoot, "pod-shared"), Labels: map[string]string{"test": t.Name()}})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := env.rt.GetSandbox(ctx, sb.ID); err != nil || !got.SharePID {
			t.Errorf("sandbox record: %+v %v", got, err)
		}
		holder := holderOf(t, "pod-shared")
		a, b := env.run(t, sb, sleeper("a")), env.run(t, sb, sleeper("b"))
		if na, nb := pidNS(a), pidNS(b); na != nb {
			t.Errorf("PID namespaces a %s, b %s, want one", na, nb)
		}
		if code, out := env.exec(t, b, "cat", "/proc/1/comm"); code != 0 || out != "skiff-pause\n" {
			t.Errorf("PID 1: %d %q", code, out)
		}
		// The holder is in its cgroup under the pod's, as CRI's pause.
		if cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", holder)); !strings.Contains(string(cg), "/pod-shared/"+sb.ID+"\n") {
			t.Errorf("holder's cgroups:\n%s", cg)
		}
		// A dead holder takes its namespace's processes with it; the next
		// container to start gets a new holder and namespace.
		if err := syscall.Kill(holder, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if st := env.waitExited(t, a); st.ExitCode != 137 {
			t.Errorf("a after its holder died: %+v", st)
		}
		c := env.run(t, sb, sleeper("c"))
		if h := holderOf(t, "pod-shared"); h == holder {
			t.Errorf("holder %d not replaced", h)
		}
		if code, out := env.exec(t, c, "cat", "/proc/1/comm"); code != 0 || out != "skiff-pause\n" {
			t.Errorf("PID 1 after the holder's replacement: %d %q", code, out)
		}
		// Removing the sandbox ends the holder, its cgroup and the pin.
		if err := env.rt.RemoveSandbox(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
		if h := holders("pod-shared"); len(h) != 0 {
			t.Errorf("holders %v left", h)
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", env.cfg.CgroupRoot, "pod-shared")); !os.IsNotExist(err) {
			t.Errorf("pod cgroup left: %v", err)
		}
		if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), sb.ID) {
			t.Errorf("a mount of removed sandbox %s is left", sb.ID)
		}
		// Both at once: refused.
		if _, err := env.rt.CreateSandbox(ctx, runtime.SandboxConfig{UID: "uid-x", Namespace: "default", Name: "both", SharePID: true, HostPID: true}); err == nil {
			t.Error("a sandbox with HostPID and SharePID was created")
		}
	})

	t.Run("unrecorded sandbox", func(t *testing.T) {
		// The agent stopped in CreateSandbox before it recorded the sandbox:
		// a new runtime removes the directory, its pins and its PID
		// namespace holder, found by its pin or, if the agent stopped before
		// pinning it, by its cgroup.
		ctx := context.Background()
		var ids []string
		for _, name := range []string{"unrecorded", "unpinned"} {
			sb, err := env.rt.CreateSandbox(ctx, runtime.SandboxConfig{UID: "uid-" + netRandomHex(t, 4), Namespace: "default",
				Name: name, SharePID: true, CgroupParent: filepath.Join(env.cfg.CgroupRoot, "pod-"+name), Labels: map[string]string{"test": t.Name()}})
			if err != nil {
				t.Fatal(err)
			}
			holderOf(t, "pod-"+name)
			ids = append(ids, sb.ID)
		}
		dir := func(id string) string { return filepath.Join(env.cfg.RootDir, "sandboxes", id) }
		if err := nspin.Unpin(filepath.Join(dir(ids[1]), "pid")); err != nil {
			t.Fatal(err)
		}
		if err := env.rt.Close(); err != nil {
			t.Fatal(err)
		}
		client, err := containerdclient.New(env.cfg.Address, containerdclient.WithDefaultNamespace("k8s.io"))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		for _, id := range ids {
			if err := client.ContainerService().Delete(namespaces.WithNamespace(ctx, "k8s.io"), id); err != nil {
				t.Fatal(err)
			}
		}
		rt2, err := runtime.New(ctx, env.cfg)
		if err != nil {
			t.Fatal(err)
		}
		env.rt = rt2
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		for i, name := range []string{"unrecorded", "unpinned"} {
			if h := holders("pod-" + name); len(h) != 0 {
				t.Errorf("%s: holders %v left", name, h)
			}
			if _, err := os.Stat(dir(ids[i])); !os.IsNotExist(err) {
				t.Errorf("%s: sandbox dir left: %v", name, err)
			}
			if strings.Contains(string(mounts), ids[i]) {
				t.Errorf("%s: a mount of sandbox %s is left", name, ids[i])
			}
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", env.cfg.CgroupRoot, "pod-"+name, ids[i])); !os.IsNotExist(err) {
				t.Errorf("%s: the holder's cgroup is left: %v", name, err)
			}
		}
	})

	t.Run("exit code and logs", func(t *testing.T) {
		sb := env.sandbox(t, "exit", "")
		id := env.run(t, sb, runtime.ContainerConfig{Name: "app", Args: []string{"exit", "3"}})
		st := env.waitExited(t, id)
		if st.ExitCode != 3 || st.Reason != runtime.ReasonError || st.Name != "app" || st.SandboxID != sb.ID {
			t.Errorf("status %+v", st)
		}
		id = env.run(t, sb, runtime.ContainerConfig{Name: "echo", Command: []string{"sh", "-c", "echo one; echo two >&2; echo three; printf four"}, Image: ctdBusyboxRef})
		st = env.waitExited(t, id)
		if st.ExitCode != 0 || st.Reason != runtime.ReasonCompleted {
			t.Errorf("status %+v", st)
		}
		if want := filepath.Join(env.logRoot, "default_exit_"+sb.UID, "echo", "0.log"); st.LogPath != want {
			t.Errorf("log path %s, want %s", st.LogPath, want)
		}
		raw, _ := os.ReadFile(st.LogPath)
		lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("log file:\n%s", raw)
		}
		for _, l := range lines {
			f := strings.SplitN(l, " ", 4)
			if len(f) != 4 {
				t.Fatalf("log line %q", l)
			}
			if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
				t.Errorf("log line %q: %v", l, err)
			}
		}
		// stdout and stderr come through separate pipes: only each stream's order is fixed.
		if !strings.Contains(string(raw), " stdout P four\n") || !strings.Contains(string(raw), " stderr F two\n") {
			t.Errorf("log file:\n%s", raw)
		}
		stdout, stderr := env.logs(t, id, logs.ReadOptions{})
		if stdout != "one\nthree\nfour" || stderr != "two\n" {
			t.Errorf("logs %q %q", stdout, stderr)
		}
		// stdout and stderr reach the file through separate pipes, so only
		// the order within a stream is fixed: tail on stdout alone.
		id = env.run(t, sb, runtime.ContainerConfig{Name: "lines", Command: []string{"sh", "-c", "echo one; echo two; echo three"}, Image: ctdBusyboxRef})
		env.waitExited(t, id)
		tail := int64(2)
		if stdout, _ := env.logs(t, id, logs.ReadOptions{Tail: &tail}); stdout != "two\nthree\n" {
			t.Errorf("tail 2: %q", stdout)
		}
		tail = 1
		stdout, _ = env.logs(t, id, logs.ReadOptions{Timestamps: true, Tail: &tail})
		if f := strings.Fields(stdout); len(f) != 2 || f[1] != "three" || len(f[0]) != len("2006-01-02T15:04:05.000000000Z") {
			t.Errorf("timestamps: %q", stdout)
		}
		limit := int64(5)
		if stdout, _ := env.logs(t, id, logs.ReadOptions{LimitBytes: &limit}); stdout != "one\nt" {
			t.Errorf("limit 5 bytes: %q", stdout)
		}
		if stdout, stderr := env.logs(t, id, logs.ReadOptions{Since: time.Now().Add(time.Minute)}); stdout+stderr != "" {
			t.Errorf("since the future: %q %q", stdout, stderr)
		}
	})

	t.Run("spec as CRI's", func(t *testing.T) {
		// HOSTNAME is the pod's hostname; the container's cgroups at
		// /sys/fs/cgroup show its limit and cannot be written; /run is the image's, not a tmpfs; RLIMIT_NOFILE is the
		// runtime's (the hard limit never rises, so it is this process's),
		// not the 1024 of containerd's default spec.
		sb := env.sandbox(t, "crispec", "")
		script := `cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max
grep -c " /run " /proc/self/mountinfo
grep "Max open files" /proc/self/limits
env | sed -n "s/^HOSTNAME=//p"
if [ -d /sys/fs/cgroup/memory ]; then f=/sys/fs/cgroup/memory/memory.limit_in_bytes v=104857600; else f=/sys/fs/cgroup/memory.max v=max; fi
echo $v 2>/dev/null >$f && echo cgroups writable || echo cgroups read-only`
		id := env.run(t, sb, runtime.ContainerConfig{Name: "spec", Command: []string{"sh", "-c", script}, Image: ctdBusyboxRef,
			Resources: runtime.Resources{MemoryLimit: 48 << 20}})
		if st := env.waitExited(t, id); st.ExitCode != 0 {
			t.Fatalf("status %+v", st)
		}
		stdout, stderr := env.logs(t, id, logs.ReadOptions{})
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 5 {
			t.Fatalf("output %q %q", stdout, stderr)
		}
		if lines[0] != strconv.Itoa(48<<20) {
			t.Errorf("memory limit seen in the container %q, want %d", lines[0], 48<<20)
		}
		if lines[1] != "0" {
			t.Errorf("/run is a mount in the container (%s)", lines[1])
		}
		if f := strings.Fields(lines[2]); len(f) < 5 || f[4] != strconv.FormatUint(lim.Max, 10) {
			t.Errorf("open files limit %q, want the hard limit %d", lines[2], lim.Max)
		}
		if lines[3] != sb.Hostname || sb.Hostname == "" {
			t.Errorf("HOSTNAME %q, want the pod's hostname %q", lines[3], sb.Hostname)
		}
		if lines[4] != "cgroups read-only" {
			t.Errorf("%s", lines[4])
		}
	})

	t.Run("seccomp", func(t *testing.T) {
		// The runtime's default profile filters; a localhost profile
		// denying mkdir denies it; without a profile nothing filters.
		sb := env.sandbox(t, "seccomp", "")
		profile := filepath.Join(t.TempDir(), "deny-mkdir.json")
		deny := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`
		if err := os.WriteFile(profile, []byte(deny), 0o644); err != nil {
			t.Fatal(err)
		}
		script := `grep Seccomp: /proc/self/status | tr -d '\t'; mkdir /tmp/x 2>/dev/null && echo made || echo denied`
		for _, tc := range []struct {
			name    string
			seccomp *runtime.Seccomp
			want    string
		}{
			{"none", nil, "Seccomp:0\nmade\n"},
			{"default", &runtime.Seccomp{}, "Seccomp:2\nmade\n"},
			{"localhost", &runtime.Seccomp{LocalhostPath: profile}, "Seccomp:2\ndenied\n"},
		} {
			id := env.run(t, sb, runtime.ContainerConfig{Name: "sc-" + tc.name, Command: []string{"sh", "-c", script}, Image: ctdBusyboxRef, Seccomp: tc.seccomp})
			env.waitExited(t, id)
			if stdout, stderr := env.logs(t, id, logs.ReadOptions{}); stdout != tc.want {
				t.Errorf("%s: %q %q, want %q", tc.name, stdout, stderr, tc.want)
			}
		}
	})

	t.Run("exited only with its output in the log", func(t *testing.T) {
		// A burst of output just before the exit: the status says exited
		// only once all of it is in the log, as CRI's does.
		sb := env.sandbox(t, "lastout", "")
		const n = 20000
		id := env.run(t, sb, runtime.ContainerConfig{Name: "burst", Command: []string{"sh", "-c", "seq 1 " + strconv.Itoa(n)}, Image: ctdBusyboxRef})
		deadline := time.Now().Add(time.Minute)
		for {
			st, err := env.rt.ContainerStatus(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if st.State == runtime.StateExited {
				raw, _ := os.ReadFile(st.LogPath)
				if got := strings.Count(string(raw), "\n"); got != n {
					t.Errorf("exited with %d of %d lines in the log", got, n)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("container did not exit: %+v", st)
			}
		}
	})

	t.Run("stop", func(t *testing.T) {
		sb := env.sandbox(t, "stop", "")
		id := env.run(t, sb, runtime.ContainerConfig{Name: "sleeper", Args: []string{"echo-tcp", "--port", "9000"}})
		st, err := env.rt.ContainerStatus(ctx, id)
		if err != nil || st.State != runtime.StateRunning || st.Pid == 0 || st.StartedAt.IsZero() {
			t.Fatalf("status %+v %v", st, err)
		}
		// A SIGTERM that comes before agnhost-lite asks for it ends a Go pid 1 with exit code 2
		// (the runtime's fallback; SigCgt is set from the runtime's start, so it cannot tell):
		// wait for the server's first line, written after the handler is in place.
		deadline := time.Now().Add(time.Minute)
		for {
			if _, stderr := env.logs(t, id, logs.ReadOptions{}); strings.Contains(stderr, "echoing TCP on :9000") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("echo-tcp did not start within a minute")
			}
			time.Sleep(20 * time.Millisecond)
		}
		// agnhost-lite ends on SIGTERM, so the stop completes without SIGKILL (exit 0, not 137).
		if err := env.rt.StopContainer(ctx, id, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		st = env.waitExited(t, id)
		if st.ExitCode != 0 || st.Reason != runtime.ReasonCompleted {
			t.Errorf("status after stop %+v", st)
		}
		if err := env.rt.StopContainer(ctx, id, time.Second); err != nil {
			t.Errorf("stopping again: %v", err)
		}
		// busybox sleep ignores nothing but as pid 1 has no default SIGTERM action: SIGKILL after the timeout.
		id = env.run(t, sb, runtime.ContainerConfig{Name: "stubborn", Image: ctdBusyboxRef, Command: []string{"sleep", "3600"}})
		if err := env.rt.StopContainer(ctx, id, time.Second); err != nil {
			t.Fatal(err)
		}
		if st := env.waitExited(t, id); st.ExitCode != 137 {
			t.Errorf("status after SIGKILL %+v", st)
		}
		if err := env.rt.RemoveContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := env.rt.ContainerStatus(ctx, id); err == nil {
			t.Error("removed container still has a status")
		}
	})

	t.Run("exec and hostname", func(t *testing.T) {
		sb := env.sandbox(t, "exec-pod", "")
		id := env.run(t, sb, runtime.ContainerConfig{Name: "app", Args: []string{"sleep", "infinity"}})
		if code, out := env.exec(t, id, "/agnhost-lite", "hostname"); code != 0 || strings.TrimSpace(out) != "exec-pod" {
			t.Errorf("hostname: %d %q", code, out)
		}
		if code, out := env.exec(t, id, "/agnhost-lite", "cat", "/etc/hostname"); code != 0 || strings.TrimSpace(out) != "exec-pod" {
			t.Errorf("/etc/hostname: %d %q", code, out)
		}
		if code, _ := env.exec(t, id, "/agnhost-lite", "exit", "7"); code != 7 {
			t.Errorf("exec exit 7: %d", code)
		}
		// stdin reaches the process and its end is an EOF.
		var out bytes.Buffer
		code, err := env.rt.Exec(ctx, id, []string{"/agnhost-lite", "cat", "/dev/stdin"}, runtime.ExecOptions{Stdin: strings.NewReader("piped\n"), Stdout: &out})
		if err != nil || code != 0 || out.String() != "piped\n" {
			t.Errorf("exec with stdin: %d %v %q", code, err, out.String())
		}
	})

	t.Run("command env workingDir", func(t *testing.T) {
		sb := env.sandbox(t, "env", "")
		id := env.run(t, sb, runtime.ContainerConfig{
			Name: "sh", Image: ctdBusyboxRef,
			Command:    []string{"sh", "-c"},
			Args:       []string{`echo "$GREETING $1 $(pwd)"`, "arg0", "world"},
			WorkingDir: "/tmp",
			Env:        []runtime.EnvVar{{Name: "GREETING", Value: "hello"}},
		})
		env.waitExited(t, id)
		if stdout, _ := env.logs(t, id, logs.ReadOptions{}); stdout != "hello world /tmp\n" {
			t.Errorf("output %q", stdout)
		}
	})

	t.Run("read-only rootfs", func(t *testing.T) {
		sb := env.sandbox(t, "ro", "")
		id := env.run(t, sb, runtime.ContainerConfig{Name: "w", Args: []string{"write-file", "/probe", "x"}, ReadOnlyRootfs: true})
		if st := env.waitExited(t, id); st.ExitCode == 0 {
			t.Errorf("write to a read-only rootfs succeeded: %+v", st)
		}
		if _, stderr := env.logs(t, id, logs.ReadOptions{}); !strings.Contains(stderr, "read-only file system") {
			t.Errorf("stderr %q", stderr)
		}
	})

	t.Run("runAsUser", func(t *testing.T) {
		sb := env.sandbox(t, "user", "")
		ids := func(name string, user *runtime.User) (uid, gid, groups string) {
			t.Helper()
			id := env.run(t, sb, runtime.ContainerConfig{Name: name, Args: []string{"cat", "/proc/self/status"}, User: user})
			env.waitExited(t, id)
			stdout, _ := env.logs(t, id, logs.ReadOptions{})
			for _, l := range strings.Split(stdout, "\n") {
				switch {
				case strings.HasPrefix(l, "Uid:"):
					uid = strings.Join(strings.Fields(l)[1:], " ")
				case strings.HasPrefix(l, "Gid:"):
					gid = strings.Join(strings.Fields(l)[1:], " ")
				case strings.HasPrefix(l, "Groups:"):
					groups = strings.Join(strings.Fields(l)[1:], " ")
				}
			}
			return uid, gid, groups
		}
		uid, gid := int64(1000), int64(3000)
		u, g, groups := ids("id", &runtime.User{UID: &uid, GID: &gid, SupplementalGroups: []int64{4000}})
		if u != "1000 1000 1000 1000" || g != "3000 3000 3000 3000" || !strings.Contains(groups, "4000") {
			t.Errorf("Uid %q Gid %q Groups %q", u, g, groups)
		}
		// Without a group, the group and the supplementary groups come from
		// the image's /etc/passwd and /etc/group (nobody:65534, a member of
		// users:100), copied from the first container's snapshot and read
		// there for the next containers of the image.
		nobody := int64(65534)
		for _, name := range []string{"nobody-1", "nobody-2"} {
			u, g, groups := ids(name, &runtime.User{UID: &nobody})
			if u != "65534 65534 65534 65534" || g != "65534 65534 65534 65534" || groups != "100 65534" {
				t.Errorf("%s: Uid %q Gid %q Groups %q", name, u, g, groups)
			}
		}
		if kept, _ := filepath.Glob(filepath.Join(env.cfg.RootDir, "image-users", "*", "etc", "group")); len(kept) == 0 {
			t.Error("no copy of the image's /etc/group kept")
		}
	})

	t.Run("capabilities, no_new_privs and limits", func(t *testing.T) {
		sb := env.sandbox(t, "sec", "")
		status := func(cfg runtime.ContainerConfig) map[string]string {
			t.Helper()
			cfg.Args = []string{"cat", "/proc/self/status"}
			id := env.run(t, sb, cfg)
			env.waitExited(t, id)
			stdout, _ := env.logs(t, id, logs.ReadOptions{})
			fields := map[string]string{}
			for _, l := range strings.Split(stdout, "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok {
					fields[k] = strings.TrimSpace(v)
				}
			}
			return fields
		}
		no := false
		st := status(runtime.ContainerConfig{Name: "caps",
			Capabilities:             &runtime.Capabilities{Drop: []string{"ALL"}, Add: []string{"NET_ADMIN", "CAP_KILL"}},
			AllowPrivilegeEscalation: &no})
		// CAP_KILL is bit 5, CAP_NET_ADMIN bit 12.
		if st["CapEff"] != "0000000000001020" || st["NoNewPrivs"] != "1" {
			t.Errorf("CapEff %s NoNewPrivs %s", st["CapEff"], st["NoNewPrivs"])
		}
		st = status(runtime.ContainerConfig{Name: "default"})
		if st["CapEff"] != "00000000a80425fb" || st["NoNewPrivs"] != "0" {
			t.Errorf("default: CapEff %s NoNewPrivs %s", st["CapEff"], st["NoNewPrivs"])
		}
		st = status(runtime.ContainerConfig{Name: "privileged", Privileged: true})
		if st["CapEff"] == "00000000a80425fb" || strings.Count(st["CapEff"], "f") < 9 {
			t.Errorf("privileged: CapEff %s", st["CapEff"])
		}

		// Limits land in the container's cgroup under the pod's.
		id := env.run(t, sb, runtime.ContainerConfig{Name: "limited", Args: []string{"sleep", "infinity"},
			Resources: runtime.Resources{MemoryLimit: 64 << 20, CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000}})
		cg := filepath.Join(env.cfg.CgroupRoot, "pod"+sb.UID, id)
		for file, want := range map[string]string{
			"memory/" + cg + "/memory.limit_in_bytes": "67108864",
			"cpu/" + cg + "/cpu.shares":               "512",
			"cpu/" + cg + "/cpu.cfs_quota_us":         "50000",
		} {
			if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
				t.Skip("not cgroup v1")
			}
			b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", file))
			if err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("%s: %q %v, want %s", file, b, err, want)
			}
		}
	})

	t.Run("exit while the agent is away", func(t *testing.T) {
		sb := env.sandbox(t, "away", "")
		id := env.run(t, sb, runtime.ContainerConfig{Name: "app", Image: ctdBusyboxRef,
			Command: []string{"sh", "-c", "echo started; read line; exit 4"}, Stdin: true})
		// Output of a container that ends while nobody reads its FIFO is
		// lost with the pipe: let "started" reach the log first.
		deadline := time.Now().Add(time.Minute)
		for {
			st, _ := env.rt.ContainerStatus(ctx, id)
			if b, _ := os.ReadFile(st.LogPath); strings.Contains(string(b), "started") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no output before the agent went away")
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Without the agent, end the container: its exit must be found by the next runtime.
		client, err := containerdclient.New(env.cfg.Address, containerdclient.WithDefaultNamespace("k8s.io"))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if err := env.rt.Close(); err != nil {
			t.Fatal(err)
		}
		nsCtx := namespaces.WithNamespace(ctx, "k8s.io")
		c, err := client.LoadContainer(nsCtx, id)
		if err != nil {
			t.Fatal(err)
		}
		task, err := c.Task(nsCtx, nil)
		if err != nil {
			t.Fatal(err)
		}
		exitCh, err := task.Wait(nsCtx)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.CloseIO(nsCtx, containerdclient.WithStdinCloser); err != nil {
			t.Fatal(err)
		}
		<-exitCh
		rt2, err := runtime.New(ctx, env.cfg)
		if err != nil {
			t.Fatal(err)
		}
		env.rt = rt2
		st := env.waitExited(t, id)
		if st.ExitCode != 4 || st.Reason != runtime.ReasonError {
			t.Errorf("status %+v", st)
		}
		if stdout, _ := env.logs(t, id, logs.ReadOptions{}); stdout != "started\n" {
			t.Errorf("log %q", stdout)
		}
	})

	t.Run("bad command", func(t *testing.T) {
		sb := env.sandbox(t, "bad", "")
		id, err := env.rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Name: "nope", Image: ctdAgnhostRef, Command: []string{"/no/such/binary"}})
		if err != nil {
			t.Fatal(err)
		}
		err = env.rt.StartContainer(ctx, id)
		if err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
			t.Fatalf("start: %v", err)
		}
		st := env.waitExited(t, id)
		if st.Reason != runtime.ReasonStartError || st.ExitCode != 128 || !strings.Contains(st.Message, "/no/such/binary") {
			t.Errorf("status %+v", st)
		}
		if err := env.rt.RemoveContainer(ctx, id); err != nil {
			t.Error(err)
		}
	})

	t.Run("oom", func(t *testing.T) {
		sb := env.sandbox(t, "oom", "")
		id := env.run(t, sb, runtime.ContainerConfig{Name: "hog", Args: []string{"oom"},
			Resources: runtime.Resources{MemoryLimit: 20 << 20}})
		if st := env.waitExited(t, id); st.Reason != runtime.ReasonOOMKilled || st.ExitCode != 137 {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("netns by path", func(t *testing.T) {
		if _, err := exec.LookPath("ip"); err != nil {
			t.Skip("ip (iproute2) not installed")
		}
		name := "skiff-rt-" + netRandomHex(t, 4)
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
		path := "/var/run/netns/" + name
		sb := env.sandbox(t, "netns", path)
		id := env.run(t, sb, runtime.ContainerConfig{Name: "app", Args: []string{"sleep", "infinity"}})
		st, err := env.rt.ContainerStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var want, got syscall.Stat_t
		if err := syscall.Stat(path, &want); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Stat(filepath.Join("/proc", strconv.Itoa(int(st.Pid)), "ns", "net"), &got); err != nil {
			t.Fatal(err)
		}
		if want.Ino != got.Ino || want.Dev != got.Dev {
			t.Errorf("container's netns is not the sandbox's")
		}
		if err := env.rt.RemoveSandbox(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("re-adoption", func(t *testing.T) {
		sb := env.sandbox(t, "adopt", "")
		id := env.run(t, sb, runtime.ContainerConfig{Name: "app", Image: ctdBusyboxRef,
			Command: []string{"sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"}})
		// The agent goes away; the container keeps running.
		if err := env.rt.Close(); err != nil {
			t.Fatal(err)
		}
		rt2, err := runtime.New(ctx, env.cfg)
		if err != nil {
			t.Fatal(err)
		}
		env.rt = rt2
		cs, err := rt2.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID})
		if err != nil || len(cs) != 1 || cs[0].ID != id || cs[0].State != runtime.StateRunning {
			t.Fatalf("after re-adoption: %+v %v", cs, err)
		}
		sbs, err := rt2.ListSandboxes(ctx, map[string]string{"test": t.Name()})
		if err != nil || len(sbs) != 1 || sbs[0].ID != sb.ID || sbs[0].Name != "adopt" {
			t.Fatalf("sandboxes after re-adoption: %+v %v", sbs, err)
		}
		// Logs keep flowing through the new runtime's copier.
		size := func() int64 {
			fi, err := os.Stat(cs[0].LogPath)
			if err != nil {
				return 0
			}
			return fi.Size()
		}
		before := size()
		deadline := time.Now().Add(time.Minute)
		for size() <= before {
			if time.Now().After(deadline) {
				t.Fatal("no log written after re-adoption")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := rt2.StopContainer(ctx, id, time.Second); err != nil {
			t.Fatal(err)
		}
		env.waitExited(t, id)
		stdout, _ := env.logs(t, id, logs.ReadOptions{})
		if !strings.HasPrefix(stdout, "tick 0\ntick 1\n") {
			t.Errorf("log %q", stdout)
		}
	})
}

// A registry on loopback (go-containerregistry's in-memory one) behind basic
// auth, reached as a mirror of skiff.test through Config.Registries.
func TestRuntimePull(t *testing.T) {
	ctdRequire(t)
	const user, pass = "puller", "s3cret"
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="skiff-test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	regHost := strings.TrimPrefix(srv.URL, "http://")
	regs, err := registries.New(registries.File{Mirrors: map[string]registries.Mirror{
		"skiff.test": {Endpoints: []string{"http://" + regHost}},
	}, Configs: map[string]registries.RegistryConfig{
		regHost: {Auth: &registries.AuthConfig{Username: user, Password: pass}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	env := rtStart(t, func(c *runtime.Config) { c.Registries = regs })
	rt := env.rt
	ctx := context.Background()

	// Push the imported agnhost-lite to the registry as mirror/agnhost:2.
	nsCtx := namespaces.WithNamespace(ctx, "k8s.io")
	local, err := rt.Client().GetImage(nsCtx, ctdAgnhostRef)
	if err != nil {
		t.Fatal(err)
	}
	pusher := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(
		docker.WithPlainHTTP(docker.MatchAllHosts),
		docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(func(string) (string, string, error) { return user, pass, nil }))))})
	if err := rt.Client().Push(nsCtx, regHost+"/mirror/agnhost:2", local.Target(), containerdclient.WithResolver(pusher)); err != nil {
		t.Fatal(err)
	}
	want, err := rt.GetImage(ctx, ctdAgnhostRef)
	if err != nil {
		t.Fatal(err)
	}

	// localhost:<port> is the same registry under a name with no credentials in the file.
	localHost := "localhost:" + regHost[strings.LastIndex(regHost, ":")+1:]
	_, err = rt.PullImage(ctx, localHost+"/mirror/agnhost:2", nil)
	if !errors.Is(err, runtime.ErrImagePull) || !strings.Contains(err.Error(), "pull access denied") {
		t.Errorf("pull without credentials: %v", err)
	}
	// A pull secret's credentials go to the image's registry only: the
	// mirror gets the file's, so a wrong pull secret for skiff.test does not matter.
	auth := &runtime.Auth{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	if _, err := rt.PullImage(ctx, "skiff.test/mirror/agnhost:2", &runtime.Auth{Username: "someone", Password: "else"}); err != nil {
		t.Errorf("pull secret credentials sent to the mirror instead of the file's: %v", err)
	}
	// Straight from the registry (the default endpoint of skiff.test does not resolve).
	_, err = rt.EnsureImage(ctx, regHost+"/mirror/missing:1", corev1.PullIfNotPresent, auth)
	if !errors.Is(err, runtime.ErrImagePull) || !strings.Contains(err.Error(), `failed to pull and unpack image "`+regHost+`/mirror/missing:1"`) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("pull of a missing image: %v", err)
	}
	// Through the mirror with the file's credentials for it.
	got, err := rt.EnsureImage(ctx, "skiff.test/mirror/agnhost:2", corev1.PullAlways, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same image (config digest) now has two names.
	if got.ID != want.ID || len(got.RepoTags) != 2 || got.RepoTags[0] != "skiff.test/agnhost-lite:1" || got.RepoTags[1] != "skiff.test/mirror/agnhost:2" ||
		len(got.RepoDigests) != 2 || got.RepoDigests[1] != "skiff.test/mirror/agnhost@"+local.Target().Digest.String() {
		t.Errorf("pulled image %+v", got)
	}
	// Present now: IfNotPresent needs no registry (nor credentials).
	if _, err := rt.EnsureImage(ctx, "skiff.test/mirror/agnhost:2", corev1.PullIfNotPresent, nil); err != nil {
		t.Error(err)
	}
	if err := rt.RemoveImage(ctx, got.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.GetImage(ctx, "skiff.test/mirror/agnhost:2"); err == nil {
		t.Error("removed image still there")
	}
	if _, err := rt.GetImage(ctx, ctdAgnhostRef); err == nil {
		t.Error("removing by image id leaves other names of the image")
	}
}

func TestRuntimeAttach(t *testing.T) {
	env := rtStart(t, nil)
	ctx := context.Background()
	sb := env.sandbox(t, "attach", "")
	id := env.run(t, sb, runtime.ContainerConfig{Name: "cat", Image: ctdBusyboxRef, Command: []string{"cat"}, Stdin: true, StdinOnce: true})
	var out ctdBuffer
	attachCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// stdinOnce: the end of the attached stdin is the end of the container's.
	if err := env.rt.Attach(attachCtx, id, runtime.ExecOptions{Stdin: strings.NewReader("through attach\n"), Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	st := env.waitExited(t, id)
	if st.ExitCode != 0 || out.String() != "through attach\n" {
		t.Errorf("status %+v, attached output %q", st, out.String())
	}
	if stdout, _ := env.logs(t, id, logs.ReadOptions{}); stdout != "through attach\n" {
		t.Errorf("log %q", stdout)
	}

	// A TTY exec: one stream, and the terminal's size comes through.
	id = env.run(t, sb, runtime.ContainerConfig{Name: "sleeper", Args: []string{"sleep", "infinity"}})
	resize := make(chan runtime.TerminalSize, 1)
	resize <- runtime.TerminalSize{Width: 100, Height: 40}
	var tty ctdBuffer
	code, err := env.rt.Exec(ctx, id, []string{"/agnhost-lite", "hostname"}, runtime.ExecOptions{Stdout: &tty, TTY: true, Resize: resize})
	if err != nil || code != 0 || strings.TrimSpace(tty.String()) != "attach" {
		t.Errorf("tty exec: %d %v %q", code, err, tty.String())
	}
}
