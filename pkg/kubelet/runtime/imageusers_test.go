package runtime

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	testPasswd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1500:app:/home/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
	testGroup  = "root:x:0:\nappg:x:1500:\nwheel:x:10:app,other\nusers:x:100:app\nnogroup:x:65534:\n"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(data, "->") {
			if err := os.Symlink(strings.TrimPrefix(data, "->"), p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCopyUserFiles(t *testing.T) {
	t.Run("files, through a link that stays in the root", func(t *testing.T) {
		root, dir := t.TempDir(), filepath.Join(t.TempDir(), "users", "sha256-x")
		// An absolute link resolves inside the image's root, not the host's.
		writeTree(t, root, map[string]string{"usr/lib/passwd": testPasswd, "etc/passwd": "->/usr/lib/passwd", "etc/group": testGroup})
		kept, err := copyUserFiles(root, dir)
		if err != nil || !kept {
			t.Fatalf("kept %v, err %v", kept, err)
		}
		for name, want := range map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != want {
				t.Errorf("%s: %q, %v", name, got, err)
			}
		}
		// A second copy (a race lost) keeps the first.
		if kept, err := copyUserFiles(root, dir); err != nil || !kept {
			t.Errorf("second copy: kept %v, err %v", kept, err)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".copy-*")); len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
	})
	t.Run("a missing file stays missing", func(t *testing.T) {
		root, dir := t.TempDir(), filepath.Join(t.TempDir(), "x")
		writeTree(t, root, map[string]string{"etc/passwd": testPasswd})
		if kept, err := copyUserFiles(root, dir); err != nil || !kept {
			t.Fatalf("kept %v, err %v", kept, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "etc/group")); !os.IsNotExist(err) {
			t.Errorf("etc/group: %v", err)
		}
	})
	t.Run("not kept: too large, or not a regular file", func(t *testing.T) {
		for name, files := range map[string]map[string]string{
			"large": {"etc/passwd": strings.Repeat("u:x:1:1::/:/bin/sh\n", userFilesLimit/19+1)},
			"dir":   {"etc/group/x": "y"},
		} {
			root, dir := t.TempDir(), filepath.Join(t.TempDir(), "x")
			writeTree(t, root, files)
			kept, err := copyUserFiles(root, dir)
			if err != nil || kept {
				t.Errorf("%s: kept %v, err %v", name, kept, err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s: %s made", name, dir)
			}
		}
	})
}

// TestWithImageUserFiles checks that users resolved from the kept copy are
// what containerd's options give reading the image's root itself.
func TestWithImageUserFiles(t *testing.T) {
	image := t.TempDir()
	writeTree(t, image, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup})
	r := &ImageService{userFilesDir: t.TempDir()}
	const chainID = "sha256:abc"
	if kept, err := copyUserFiles(image, r.userFilesPath(chainID)); err != nil || !kept {
		t.Fatalf("kept %v, err %v", kept, err)
	}
	id := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name      string
		user      *User
		imageUser string
		want      specs.User
	}{
		{"image default: root's groups", nil, "", specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0}}},
		{"image USER name", nil, "app", specs.User{UID: 1000, GID: 1500, AdditionalGids: []uint32{1500, 10, 100}}},
		{"image USER uid:group", nil, "1000:wheel", specs.User{UID: 1000, GID: 10, AdditionalGids: []uint32{10, 100}}},
		{"runAsUser: the group from passwd", &User{UID: id(1000)}, "", specs.User{UID: 1000, GID: 1500, AdditionalGids: []uint32{1500, 10, 100}}},
		{"runAsUser not in passwd: group 0", &User{UID: id(4242)}, "app", specs.User{UID: 4242, GID: 0, AdditionalGids: []uint32{0}}},
		{"runAsGroup alone", &User{GID: id(7)}, "app", specs.User{UID: 1000, GID: 7, AdditionalGids: []uint32{7, 10, 100}}},
		{"supplementalGroups", &User{UID: id(65534), SupplementalGroups: []int64{4000}}, "", specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534, 4000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !readsImageUsers(tc.user) {
				t.Fatal("case does not read the image's files")
			}
			opts := userOpts(tc.user, tc.imageUser)
			// The reference: containerd's options reading the image's root.
			ref := &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}, Root: &specs.Root{Path: image}}
			if err := oci.ApplyOpts(context.Background(), nil, &containers.Container{}, ref, opts...); err != nil {
				t.Fatal(err)
			}
			s := &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}, Root: &specs.Root{Path: "rootfs"}}
			c := &containers.Container{ID: "c", Snapshotter: "overlayfs", SnapshotKey: "c"}
			if err := r.withImageUserFiles(chainID, opts)(context.Background(), nil, c, s); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Process.User, ref.Process.User) || !reflect.DeepEqual(s.Process.User, tc.want) {
				t.Errorf("user %+v, containerd reading the image %+v, want %+v", s.Process.User, ref.Process.User, tc.want)
			}
			if s.Root.Path != "rootfs" {
				t.Errorf("root left at %q", s.Root.Path)
			}
		})
	}
	t.Run("an unknown USER name fails as containerd's", func(t *testing.T) {
		s := &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}, Root: &specs.Root{Path: "rootfs"}}
		c := &containers.Container{ID: "c", Snapshotter: "overlayfs", SnapshotKey: "c"}
		err := r.withImageUserFiles(chainID, userOpts(nil, "ghost"))(context.Background(), nil, c, s)
		if err == nil || !strings.Contains(err.Error(), oci.ErrNoUsersFound.Error()) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("pruned with its image", func(t *testing.T) {
		other := r.userFilesPath("sha256:gone")
		if err := os.MkdirAll(other, 0o755); err != nil {
			t.Fatal(err)
		}
		r.pruneUserFiles([]*Image{{chainID: chainID}})
		if _, err := os.Stat(other); !os.IsNotExist(err) {
			t.Errorf("%s kept: %v", other, err)
		}
		if _, err := os.Stat(r.userFilesPath(chainID)); err != nil {
			t.Errorf("present image's copy: %v", err)
		}
	})
}
