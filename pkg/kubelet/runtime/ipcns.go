package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// A pod's containers share one IPC namespace (System V semaphores, message
// queues and shared memory) and one /dev/shm (POSIX shared memory), as
// upstream's do through the pause container's. skiff has no pause container:
// the sandbox pins a new IPC namespace with a bind mount at ipcFile in its
// directory and mounts a tmpfs at shmDir (64 MB, as containerd's CRI plugin),
// and each container joins the one and mounts the other at /dev/shm. A pod
// with hostIPC uses the host's namespace and /dev/shm instead.
const (
	ipcFile = "ipc"
	shmDir  = "shm"
)

// pinIPC makes the sandbox directory's IPC namespace and /dev/shm.
func pinIPC(dir string) error {
	if err := pinIPCNamespace(filepath.Join(dir, ipcFile)); err != nil {
		return err
	}
	shm := filepath.Join(dir, shmDir)
	if err := os.Mkdir(shm, 0o755); err != nil {
		return fmt.Errorf("create /dev/shm: %w", err)
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	return nil
}

// unpinIPC undoes pinIPC; what is not mounted is skipped.
func unpinIPC(dir string) error {
	for _, p := range []string{filepath.Join(dir, shmDir), filepath.Join(dir, ipcFile)} {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return nil
}

// pinIPCNamespace makes a new IPC namespace and pins it at path. It is made on
// a locked thread that is thrown away afterwards, never returned to the Go
// scheduler in a foreign namespace.
func pinIPCNamespace(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create IPC namespace mount point: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Not unlocked on purpose: the thread ends with the goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
			errc <- fmt.Errorf("unshare IPC namespace: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/ipc", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("pin IPC namespace: %w", err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// hasPodIPC reports whether the sandbox directory has its IPC namespace and
// /dev/shm (a sandbox made before pods shared them has neither).
func hasPodIPC(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(filepath.Join(dir, ipcFile), &st) == nil && st.Type == unix.NSFS_MAGIC
}
