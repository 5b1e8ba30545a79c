package runtime

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestContainerArgs(t *testing.T) {
	ep, cmd := []string{"/entry"}, []string{"serve", "--port", "80"}
	for _, tc := range []struct {
		command, args, want []string
	}{
		{want: []string{"/entry", "serve", "--port", "80"}},
		{args: []string{"exit", "3"}, want: []string{"/entry", "exit", "3"}},
		{command: []string{"sh"}, want: []string{"sh"}},
		{command: []string{"sh", "-c"}, args: []string{"echo hi"}, want: []string{"sh", "-c", "echo hi"}},
	} {
		got := containerArgs(&ContainerConfig{Command: tc.command, Args: tc.args}, ep, cmd)
		if !slices.Equal(got, tc.want) {
			t.Errorf("command %q args %q: %q, want %q", tc.command, tc.args, got, tc.want)
		}
	}
}

func TestNormalizeImageRef(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                   "docker.io/library/busybox:latest",
		"busybox:1.36":              "docker.io/library/busybox:1.36",
		"user/app":                  "docker.io/user/app:latest",
		"skiff.test/agnhost-lite:1": "skiff.test/agnhost-lite:1",
		"localhost:5000/x@sha256:0123456789012345678901234567890123456789012345678901234567890123": "localhost:5000/x@sha256:0123456789012345678901234567890123456789012345678901234567890123",
	} {
		if got, err := NormalizeImageRef(in); err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
	if _, err := NormalizeImageRef("Busybox"); !errors.Is(err, ErrInvalidImageRef) {
		t.Errorf("invalid reference: %v", err)
	}
}

func TestMounts(t *testing.T) {
	r := &Runtime{cfg: Config{RootDir: "/run/x"}}
	sb := &Sandbox{ID: "sb"}
	dests := func(got []specs.Mount) (out []string) {
		for _, m := range got {
			out = append(out, m.Destination+" "+m.Source+" "+strings.Join(m.Options, ","))
		}
		return out
	}
	got := dests(r.mounts(sb, &ContainerConfig{ReadOnlyRootfs: true, Mounts: []Mount{
		{HostPath: "/data", ContainerPath: "/etc/hosts"},
		{HostPath: "/shared", ContainerPath: "/mnt", ReadOnly: true, Propagation: PropagationSlave},
	}}, ""))
	want := []string{
		"/etc/resolv.conf /run/x/sandboxes/sb/resolv.conf rbind,rprivate,ro",
		"/etc/hostname /run/x/sandboxes/sb/hostname rbind,rprivate,ro",
		"/sys/fs/cgroup cgroup nosuid,noexec,nodev,relatime,ro",
		"/etc/hosts /data rbind,rprivate,rw",
		"/mnt /shared rbind,rslave,ro",
	}
	if !slices.Equal(got, want) {
		t.Errorf("mounts:\n%q\nwant\n%q", got, want)
	}
	// A volume at /sys/fs/cgroup replaces the cgroup mount.
	got = dests(r.mounts(sb, &ContainerConfig{Mounts: []Mount{{HostPath: "/cg", ContainerPath: "/sys/fs/cgroup"}}}, ""))
	if slices.ContainsFunc(got, func(m string) bool { return strings.HasPrefix(m, "/sys/fs/cgroup cgroup") }) {
		t.Errorf("mounts %q: want the caller's /sys/fs/cgroup only", got)
	}
	// The pod's /dev/shm, read-write, unless the caller mounts there.
	shm := "/run/x/sandboxes/sb/shm"
	got = dests(r.mounts(sb, &ContainerConfig{ReadOnlyRootfs: true}, shm))
	if want := "/dev/shm " + shm + " rbind,rprivate,rw"; !slices.Contains(got, want) {
		t.Errorf("mounts %q lack %q", got, want)
	}
	got = dests(r.mounts(sb, &ContainerConfig{Mounts: []Mount{{HostPath: "/vol", ContainerPath: "/dev/shm/"}}}, shm))
	if want := "/dev/shm/ /vol rbind,rprivate,rw"; !slices.Contains(got, want) || slices.ContainsFunc(got, func(m string) bool { return strings.Contains(m, shm) }) {
		t.Errorf("mounts %q: want the caller's /dev/shm only", got)
	}
	if p := needsSharedRootfs([]Mount{{Propagation: PropagationSlave}, {}}); p != "rslave" {
		t.Errorf("rootfs propagation %q", p)
	}
}

// The mirror of containerd's records answers lists by kind and labels,
// ordered by id, and follows puts and removals.
func TestRecords(t *testing.T) {
	r := &Runtime{recs: records{m: map[string]record{}}}
	r.putRecord("c2", map[string]string{labelKind: kindContaner, labelSandboxID: "x"}, time.Unix(2, 0))
	r.putRecord("c1", map[string]string{labelKind: kindContaner, labelSandboxID: "x"}, time.Unix(1, 0))
	r.putRecord("c3", map[string]string{labelKind: kindContaner, labelSandboxID: "y"}, time.Unix(3, 0))
	r.putRecord("x", map[string]string{labelKind: kindSandbox}, time.Unix(0, 0))
	ids := func(recs []record) (out []string) {
		for _, rec := range recs {
			out = append(out, rec.id)
		}
		return out
	}
	if got := ids(r.listRecords(kindContaner, map[string]string{labelSandboxID: "x"})); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Errorf("containers of x: %v", got)
	}
	if got := ids(r.listRecords(kindSandbox, nil)); !slices.Equal(got, []string{"x"}) {
		t.Errorf("sandboxes: %v", got)
	}
	if _, err := r.record(context.Background(), "x", kindContaner); !errdefs.IsNotFound(err) {
		t.Errorf("sandbox read as a container: %v", err)
	}
	if rec, err := r.record(context.Background(), "c3", kindContaner); err != nil || !rec.created.Equal(time.Unix(3, 0)) {
		t.Errorf("c3: %+v %v", rec, err)
	}
	r.removeRecord("c1")
	if got := ids(r.listRecords(kindContaner, nil)); !slices.Equal(got, []string{"c2", "c3"}) {
		t.Errorf("after removing c1: %v", got)
	}
}

func TestLabels(t *testing.T) {
	if got := userLabels(map[string]string{"label.app": "web", labelKind: kindSandbox}); len(got) != 1 || got["app"] != "web" {
		t.Errorf("user labels %v", got)
	}
	if len(newID()) != 64 {
		t.Error("id length")
	}
}
