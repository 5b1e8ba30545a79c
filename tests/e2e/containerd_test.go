package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerdclient "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"

	"github.com/skiff-k8s/skiff/pkg/agent/containerd"
	"github.com/skiff-k8s/skiff/tests/nodetest"
)

// Test images, as `make images` writes them (tests/images).
const (
	ctdAgnhostRef = "skiff.test/agnhost-lite:1"
	ctdBusyboxRef = "skiff.test/busybox:1"
)

// ctdRequire skips unless the test can run containers: root, containerd and runc.
func ctdRequire(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (scripts/install-deps.sh installs it)", b)
		}
	}
}

var (
	ctdImagesOnce sync.Once
	ctdImagesDir  string
	ctdImagesErr  error
)

// ctdImages returns the directory holding agnhost-lite.tar and busybox.tar: $SKIFF_IMAGES
// (make test sets it), else the module's bin/images, built there when missing.
func ctdImages(t *testing.T) string {
	t.Helper()
	ctdImagesOnce.Do(func() {
		if d := os.Getenv("SKIFF_IMAGES"); d != "" {
			ctdImagesDir = d
			return
		}
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			ctdImagesErr = err
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		ctdImagesDir = filepath.Join(root, "bin", "images")
		if _, err := os.Stat(filepath.Join(ctdImagesDir, "busybox.tar")); err == nil {
			return
		}
		cmd := exec.Command("go", "run", "./tests/images/build", "-out", ctdImagesDir)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			ctdImagesErr = &buildError{err: err, out: string(out)}
		}
	})
	if ctdImagesErr != nil {
		t.Fatalf("test images: %v", ctdImagesErr)
	}
	return ctdImagesDir
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string {
	return "go run ./tests/images/build: " + e.err.Error() + "\n" + e.out
}

// ctdStart starts a supervised containerd whose root, state and socket are under a fresh
// temporary directory, and stops it (killing it by pid if need be) when the test ends.
func ctdStart(t *testing.T, mod func(*containerd.Config)) (*containerd.Process, containerd.Config) {
	t.Helper()
	ctdRequire(t)
	// The state dir holds the socket, whose path must stay short; t.TempDir's can be long.
	state, err := os.MkdirTemp("", "skiff-ctd-")
	if err != nil {
		t.Fatal(err)
	}
	cfg := containerd.Config{
		RootDir:    filepath.Join(t.TempDir(), "root"),
		StateDir:   state,
		MinBackoff: 100 * time.Millisecond,
		StopGrace:  20 * time.Second,
		Logf:       t.Logf,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := containerd.Start(context.Background(), cfg)
	if err != nil {
		if b, rerr := os.ReadFile(filepath.Join(cfg.RootDir, "containerd.log")); rerr == nil {
			t.Logf("containerd.log:\n%s", b)
		}
		os.RemoveAll(state)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pid := p.Pid()
		if err := p.Stop(); err != nil {
			t.Errorf("stop containerd: %v", err)
		}
		if syscall.Kill(pid, 0) == nil && cfg.KeepRunning {
			// Left running on purpose by the test's config; the test is over, so end it.
			syscall.Kill(pid, syscall.SIGKILL)
			ctdWaitGone(t, pid)
		}
		os.RemoveAll(state)
	})
	return p, cfg
}

// ctdWaitGone waits until pid has exited (or is a zombie nobody reaps).
func ctdWaitGone(t *testing.T, pid int) {
	t.Helper()
	if err := nodetest.WaitGone(pid, time.Minute); err != nil {
		t.Error(err)
	}
}

// ctdClient connects to the supervised containerd and closes the client when the test ends.
func ctdClient(t *testing.T, p *containerd.Process) *containerdclient.Client {
	t.Helper()
	c, err := containerd.Connect(context.Background(), p.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ctdImport imports both test images into c and unpacks them for snapshotter.
func ctdImport(t *testing.T, c *containerdclient.Client, snapshotter string) {
	t.Helper()
	dir := ctdImages(t)
	ctx := context.Background()
	for _, f := range []string{"agnhost-lite.tar", "busybox.tar"} {
		r, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := c.Import(ctx, r)
		r.Close()
		if err != nil {
			t.Fatalf("import %s: %v", f, err)
		}
		for _, img := range imgs {
			if err := containerdclient.NewImage(c, img).Unpack(ctx, snapshotter); err != nil {
				t.Fatalf("unpack %s: %v", img.Name, err)
			}
		}
	}
}

// ctdBuffer is a bytes.Buffer that a container's stdout and stderr copiers can share.
type ctdBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *ctdBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *ctdBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ctdStartTask creates and starts a container of ref with args appended to the image's
// entrypoint and opts applied to its spec. The returned function deletes task, container and
// snapshot; call it before containerd stops.
func ctdStartTask(t *testing.T, c *containerdclient.Client, snapshotter, ref string, opts []oci.SpecOpts, args ...string) (containerdclient.Task, <-chan containerdclient.ExitStatus, *ctdBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	img, err := c.GetImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	id := "ctd-test-" + netRandomHex(t, 6)
	ctr, err := c.NewContainer(ctx, id,
		containerdclient.WithSnapshotter(snapshotter),
		containerdclient.WithNewSnapshot(id, img),
		containerdclient.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfigArgs(img, args)}, opts...)...))
	if err != nil {
		t.Fatal(err)
	}
	deleteContainer := func() {
		if err := ctr.Delete(context.Background(), containerdclient.WithSnapshotCleanup); err != nil {
			t.Errorf("delete container %s: %v", id, err)
		}
	}
	out := &ctdBuffer{}
	// The FIFOs go under the test's temp dir rather than /run/containerd/fifo.
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out, out), cio.WithFIFODir(t.TempDir())))
	if err != nil {
		deleteContainer()
		t.Fatal(err)
	}
	cleanup := func() {
		if _, err := task.Delete(context.Background(), containerdclient.WithProcessKill); err != nil {
			t.Errorf("delete task %s: %v", id, err)
		}
		deleteContainer()
	}
	// Wait before Start, so that an exit right after the start is not missed.
	statusC, err := task.Wait(context.Background())
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		cleanup()
		t.Fatal(err)
	}
	return task, statusC, out, cleanup
}

// ctdRun runs one container of ref to its end and returns its exit code and output.
func ctdRun(t *testing.T, c *containerdclient.Client, snapshotter, ref string, args ...string) (uint32, string) {
	t.Helper()
	task, statusC, out, cleanup := ctdStartTask(t, c, snapshotter, ref, nil, args...)
	defer cleanup()
	code, _, err := ctdExit(t, statusC)
	if err != nil {
		t.Fatal(err)
	}
	// Output may trail the exit; the task's IO is complete once Wait on it returns.
	task.IO().Wait()
	return code, out.String()
}

// ctdExit waits (generously) for a task to exit.
func ctdExit(t *testing.T, statusC <-chan containerdclient.ExitStatus) (uint32, time.Time, error) {
	t.Helper()
	select {
	case st := <-statusC:
		return st.Result()
	case <-time.After(2 * time.Minute):
		t.Fatal("task did not exit within 2 minutes")
		return 0, time.Time{}, nil
	}
}

func TestContainerdImportAndRun(t *testing.T) {
	p, _ := ctdStart(t, nil)
	c := ctdClient(t, p)
	ctdImport(t, c, p.Snapshotter())

	imgs, err := c.ListImages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, img := range imgs {
		names = append(names, img.Name())
	}
	for _, want := range []string{ctdAgnhostRef, ctdBusyboxRef} {
		if !slices.Contains(names, want) {
			t.Errorf("images %q lack %s", names, want)
		}
	}

	if code, out := ctdRun(t, c, p.Snapshotter(), ctdAgnhostRef, "exit", "3"); code != 3 {
		t.Errorf("agnhost-lite exit 3: exit code %d, output %q", code, out)
	}
	if code, out := ctdRun(t, c, p.Snapshotter(), ctdAgnhostRef, "env"); code != 0 || !strings.Contains(out, "PATH=/usr/local/sbin:") {
		t.Errorf("agnhost-lite env: exit code %d, output %q", code, out)
	}
	// busybox's entrypoint is empty: the args are the whole command.
	if code, out := ctdRun(t, c, p.Snapshotter(), ctdBusyboxRef, "sh", "-c", "echo hello from $(ls /bin/sh)"); code != 0 || strings.TrimSpace(out) != "hello from /bin/sh" {
		t.Errorf("busybox sh: exit code %d, output %q", code, out)
	}
}

// The test images' processes must behave as containers' pid 1: agnhost-lite ends on SIGTERM
// (pid 1 has no default signal actions), and oom is ended by the cgroup's memory limit.
func TestContainerdAgnhostSignalsAndOOM(t *testing.T) {
	p, _ := ctdStart(t, nil)
	c := ctdClient(t, p)
	ctdImport(t, c, p.Snapshotter())

	// A signal that comes before the program has asked for it ends a Go pid 1 with exit code 2
	// (the runtime's fallback), so the test waits for the server's first line, which is
	// written after the handler is in place.
	task, statusC, out, cleanup := ctdStartTask(t, c, p.Snapshotter(), ctdAgnhostRef, nil, "echo-tcp", "--port", "9000")
	defer cleanup()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "echoing TCP on :9000") {
		if time.Now().After(deadline) {
			t.Fatalf("echo-tcp did not start within a minute: output %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := task.Kill(context.Background(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _, err := ctdExit(t, statusC); err != nil || code != 0 {
		t.Errorf("echo-tcp after SIGTERM: exit code %d, %v, output %q", code, err, out.String())
	}

	_, statusC, out, cleanup2 := ctdStartTask(t, c, p.Snapshotter(), ctdAgnhostRef,
		[]oci.SpecOpts{oci.WithMemoryLimit(64 << 20), oci.WithMemorySwap(64 << 20)}, "oom")
	defer cleanup2()
	// SIGKILL from the OOM killer: 128+9.
	if code, _, err := ctdExit(t, statusC); err != nil || code != 137 {
		t.Errorf("oom under a 64 MiB limit: exit code %d, %v, output %q", code, err, out.String())
	}
}

func TestContainerdRestartedWhenKilled(t *testing.T) {
	restarted := make(chan struct{}, 10)
	p, _ := ctdStart(t, func(c *containerd.Config) { c.OnRestart = func() { restarted <- struct{}{} } })
	c := ctdClient(t, p)
	ctdImport(t, c, p.Snapshotter())

	old := p.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for p.Restarts() < 1 || p.Pid() == old {
		if time.Now().After(deadline) {
			t.Fatalf("containerd not restarted after kill: restarts %d pid %d", p.Restarts(), p.Pid())
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-restarted:
	case <-time.After(time.Minute):
		t.Error("OnRestart not called")
	}
	// The old client reconnects by itself; the images are on disk under the same root.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.GetImage(ctx, ctdAgnhostRef)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("image not found after restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, out := ctdRun(t, c, p.Snapshotter(), ctdAgnhostRef, "exit", "3"); code != 3 {
		t.Errorf("after restart, agnhost-lite exit 3: exit code %d, output %q", code, out)
	}

	pid := p.Pid()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	ctdWaitGone(t, pid)
}

func TestContainerdKeepRunningIsAdopted(t *testing.T) {
	p, cfg := ctdStart(t, func(c *containerd.Config) { c.KeepRunning = true })
	pid := p.Pid()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(pid, 0) != nil {
		t.Fatalf("containerd (pid %d) stopped although KeepRunning", pid)
	}
	// A new agent with the same state dir adopts it instead of starting a second one; this
	// one stops it.
	cfg.KeepRunning = false
	p2, err := containerd.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Pid() != pid {
		t.Errorf("started pid %d instead of adopting %d", p2.Pid(), pid)
	}
	ctdClient(t, p2)
	if err := p2.Stop(); err != nil {
		t.Fatal(err)
	}
	ctdWaitGone(t, pid)
}
