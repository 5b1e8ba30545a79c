package runtime

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/skiff-k8s/skiff/pkg/nspin"
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
	if err := nspin.New(filepath.Join(dir, ipcFile), nspin.IPC, nil); err != nil {
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
		if err := nspin.Unpin(p); err != nil {
			return err
		}
	}
	return nil
}

// hasPodIPC reports whether the sandbox directory has its IPC namespace and
// /dev/shm (a sandbox made before pods shared them has neither).
func hasPodIPC(dir string) bool { return nspin.IsPinned(filepath.Join(dir, ipcFile)) }
