package nspin

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

var cloneFlags = map[Kind]int{Net: unix.CLONE_NEWNET, IPC: unix.CLONE_NEWIPC}

// New makes a namespace of kind, runs setup in it (when not nil), and pins it
// at path, a file it creates. The namespace is made on a locked thread that is
// thrown away afterwards, never returned to the Go scheduler in a foreign
// namespace. That thread first goes back to its own namespace: Go cannot end
// the main thread and parks it instead, and the main thread's namespaces are
// the ones /proc/self shows for the whole process. On error nothing is left
// at path.
func New(path string, kind Kind, setup func() error) error {
	flag, ok := cloneFlags[kind]
	if !ok {
		return fmt.Errorf("pin namespace: unknown kind %q", kind)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create %s namespace mount point: %w", kind, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Not unlocked on purpose: the thread ends with the goroutine.
		runtime.LockOSThread()
		errc <- pinOnThisThread(path, kind, flag, setup)
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// Unpin unmounts the namespace pinned at path, leaving the file; a path not
// mounted, or gone, is not an error.
func Unpin(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	return nil
}

// IsPinned reports whether path is a pinned namespace (and not just the empty
// mount point left by a failed or undone bind mount).
func IsPinned(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// pinOnThisThread does New's work on the locked calling thread, and puts the
// thread back in its own namespace before it returns.
func pinOnThisThread(path string, kind Kind, flag int, setup func() error) error {
	self := fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), unix.Gettid(), kind)
	orig, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("open the thread's %s namespace: %w", kind, err)
	}
	defer orig.Close()
	if err := unix.Unshare(flag); err != nil {
		return fmt.Errorf("unshare %s namespace: %w", kind, err)
	}
	// Best effort: if it fails the thread still ends (or, the main thread,
	// stays parked) in the new namespace.
	defer unix.Setns(int(orig.Fd()), flag)
	if setup != nil {
		if err := setup(); err != nil {
			return err
		}
	}
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s namespace: %w", kind, err)
	}
	return nil
}

// Bind pins the namespace of the file nsPath (such as /proc/PID/ns/pid) at
// path, created if missing: for a namespace that a process made, as a PID
// namespace must be. On error nothing is mounted at path.
func Bind(nsPath, path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace mount point: %w", err)
	}
	f.Close()
	if err := unix.Mount(nsPath, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount namespace %s: %w", nsPath, err)
	}
	return nil
}
