package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/continuity/fs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A container's user and groups come from its image's /etc/passwd and
// /etc/group, as CRI resolves them: containerd's user options mount the
// container's snapshot read-only in a temporary directory to read them, for
// every container. An image's files never change, so the image service copies
// them once per image (by chain ID, the identity of its layers) into a
// directory of its own, and the same containerd options read them there:
// the same rules, without a mount per container.

// userFilesLimit is the largest /etc/passwd or /etc/group kept; an image with
// a larger one is read from each container's snapshot, as before.
const userFilesLimit = 1 << 20

// userFileNames are the files the user options read, relative to the root.
var userFileNames = []string{"etc/passwd", "etc/group"}

// withImageUserFiles applies opts, containerd's user options, against the
// copy of the image's user files, made from the container's snapshot on
// first use. Without a copy (no directory for them, or files too large or
// not regular) opts read the container's snapshot themselves.
func (r *ImageService) withImageUserFiles(chainID string, opts []oci.SpecOpts) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		// Held until the options have read the copy, which pruning
		// must not remove under them.
		r.userFilesMu.RLock()
		defer r.userFilesMu.RUnlock()
		dir, err := r.imageUserFiles(ctx, client, c, chainID)
		if err != nil {
			return fmt.Errorf("read the image's users and groups: %w", err)
		}
		if dir == "" {
			return oci.ApplyOpts(ctx, client, c, s, opts...)
		}
		// With no snapshot named, containerd's options read the files
		// under the spec's root path.
		root := s.Root
		s.Root = &specs.Root{Path: dir}
		defer func() { s.Root = root }()
		return oci.ApplyOpts(ctx, client, &containers.Container{ID: c.ID}, s, opts...)
	}
}

// userFilesPath is the directory of an image's copied user files.
func (r *ImageService) userFilesPath(chainID string) string {
	return filepath.Join(r.userFilesDir, strings.ReplaceAll(chainID, ":", "-"))
}

// imageUserFiles returns the directory holding the image's user files,
// copying them from container c's snapshot (its layers with an empty
// writable one) if no container of the image did before; "" when they are not
// kept. Concurrent first uses of an image copy once.
func (r *ImageService) imageUserFiles(ctx context.Context, client oci.Client, c *containers.Container, chainID string) (string, error) {
	if r.userFilesDir == "" || chainID == "" || c.Snapshotter == "" || c.SnapshotKey == "" {
		return "", nil
	}
	dir := r.userFilesPath(chainID)
	v, err, _ := r.userFilesCopy.Do(dir, func() (any, error) {
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
		mounts, err := client.SnapshotService(c.Snapshotter).Mounts(ctx, c.SnapshotKey)
		if err != nil {
			return "", err
		}
		var kept bool
		err = mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
			kept, err = copyUserFiles(root, dir)
			return err
		})
		if err != nil || !kept {
			return "", err
		}
		return dir, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// copyUserFiles copies the user files of the tree at root that exist into
// dir, whole or not at all: false when one is too large or not a regular
// file, which only containerd's own reading handles as it should.
func copyUserFiles(root, dir string) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".copy-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	for _, name := range userFileNames {
		// As containerd's options resolve it: symlinks stay inside root.
		src, err := fs.RootPath(root, name)
		if err != nil {
			return false, err
		}
		info, err := os.Stat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if !info.Mode().IsRegular() {
			return false, nil
		}
		data, err := readLimited(src, userFilesLimit)
		if err != nil || data == nil {
			return false, err
		}
		dst := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return false, err
		}
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, syscall.EEXIST) && !errors.Is(err, syscall.ENOTEMPTY) {
		return false, err
	}
	return true, nil
}

// readLimited reads a file of at most limit bytes; nil when it is larger.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, nil
	}
	return data, nil
}

// pruneUserFiles removes the copies of images no longer present, and the
// leftovers of copies cut short.
func (r *ImageService) pruneUserFiles(present []*Image) {
	if r.userFilesDir == "" {
		return
	}
	r.userFilesMu.Lock()
	defer r.userFilesMu.Unlock()
	entries, err := os.ReadDir(r.userFilesDir)
	if err != nil {
		return
	}
	keep := make(map[string]bool, len(present))
	for _, img := range present {
		keep[filepath.Base(r.userFilesPath(img.chainID))] = true
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			os.RemoveAll(filepath.Join(r.userFilesDir, e.Name()))
		}
	}
}
