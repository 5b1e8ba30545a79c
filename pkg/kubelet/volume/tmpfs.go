package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// tmpfsSize is the size of a Memory-medium emptyDir: its sizeLimit, or 0 for tmpfs'
// default (half of RAM); the pod's memory limit still bounds what it can write.
func tmpfsSize(_ *corev1.Pod, ed *corev1.EmptyDirVolumeSource) int64 {
	if ed.SizeLimit != nil && !ed.SizeLimit.IsZero() {
		return ed.SizeLimit.Value()
	}
	return 0
}

// ensureTmpfs makes dir a tmpfs mount unless it already is one.
func (m *Manager) ensureTmpfs(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if m.NoTmpfs {
		return os.Chmod(dir, 0o777)
	}
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	opts := "mode=0777"
	if size > 0 {
		opts += ",size=" + strconv.FormatInt(size, 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether dir is on another filesystem than its parent, which is
// how a volume we mounted shows (a bind of the same filesystem would not, but we make
// none).
func isMountPoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(dir), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev, nil
}

func unmountIfMounted(dir string) error {
	mounted, err := isMountPoint(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if !mounted {
		return nil
	}
	// MNT_DETACH: a container still holding the mount must not keep the pod's
	// directory from going away; the memory is freed when the last user leaves.
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
		return err
	}
	return nil
}
