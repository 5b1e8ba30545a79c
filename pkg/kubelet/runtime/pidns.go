package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/skiff-k8s/skiff/pkg/nspin"
	"github.com/skiff-k8s/skiff/pkg/pidholder"
)

// A pod with shareProcessNamespace has one PID namespace for all of its
// containers, held by a holder process (pkg/pidholder, pause's job) that is
// PID 1 in it. The sandbox directory pins the namespace at pidFile (the path
// the containers' specs join) and records the holder at holderFile: its PID
// and its cgroup, <pod cgroup>/<sandbox id> as CRI names the pause
// container's. The holder outlives an agent restart; a holder found dead
// when a container starts is replaced (its namespace, and every process
// that was in it, died with it), and StopSandbox and RemoveSandbox end it.
const (
	pidFile    = "pid"
	holderFile = "pid-holder"
)

// ensureSandboxPID makes sure the PID namespace of the sandbox, if it shares
// one, has its holder, before a container joins it.
func (r *Runtime) ensureSandboxPID(ctx context.Context, sandboxID string) error {
	sb, err := r.GetSandbox(ctx, sandboxID)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil || !sb.SharePID {
		return err
	}
	r.pidMu.Lock()
	defer r.pidMu.Unlock()
	return ensurePIDHolder(r.sandboxDir(sb.ID), sb.CgroupParent, sb.ID)
}

// startPIDHolder starts a holder for the sandbox directory dir, puts it in
// the cgroup <cgroupParent>/<id>, and pins its namespace.
func startPIDHolder(dir, cgroupParent, id string) error {
	pid, err := pidholder.Start()
	if err != nil {
		return err
	}
	cg := ""
	if cgroupParent != "" {
		// Out of the agent's cgroup, or stopping the agent's service
		// (systemd's KillMode=control-group) would end the pod's namespace.
		cg = filepath.Join(cgroupParent, id)
		if err := joinCgroup(pid, cg); err != nil {
			_ = killHolder(pid)
			removeCgroup(cg)
			return fmt.Errorf("start the PID namespace holder: %w", err)
		}
	}
	// As upstream's pause: the last process of the pod the OOM killer picks.
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte("-998"), 0o644)
	undo := func() {
		_ = killHolder(pid)
		removeCgroup(cg)
		os.Remove(filepath.Join(dir, holderFile))
	}
	rec := fmt.Sprintf("%d %s\n", pid, cg)
	if err := os.WriteFile(filepath.Join(dir, holderFile), []byte(rec), 0o644); err != nil {
		undo()
		return fmt.Errorf("record the PID namespace holder: %w", err)
	}
	if err := nspin.Bind(fmt.Sprintf("/proc/%d/ns/pid", pid), filepath.Join(dir, pidFile)); err != nil {
		undo()
		return err
	}
	return nil
}

// readHolder returns the holder recorded in dir, pid 0 when none is.
func readHolder(dir string) (pid int, cgroup string) {
	b, err := os.ReadFile(filepath.Join(dir, holderFile))
	if err != nil {
		return 0, ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, ""
	}
	pid, _ = strconv.Atoi(f[0])
	if len(f) > 1 {
		cgroup = f[1]
	}
	return pid, cgroup
}

// pidHolderAlive reports whether the holder recorded in dir runs, not
// exiting, and is the one whose namespace is pinned there.
func pidHolderAlive(dir string) bool {
	pid, _ := readHolder(dir)
	return pid > 0 && holdsPin(dir, pid) && !exiting(pid)
}

// holdsPin reports whether pid is in the namespace pinned in dir: the holder
// recorded there (alive, exiting or a zombie), not a process that reused
// its PID.
func holdsPin(dir string, pid int) bool {
	var pinned, theirs unix.Stat_t
	if !nspin.IsPinned(filepath.Join(dir, pidFile)) ||
		unix.Stat(filepath.Join(dir, pidFile), &pinned) != nil ||
		unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &theirs) != nil {
		return false
	}
	return pinned.Dev == theirs.Dev && pinned.Ino == theirs.Ino
}

// ensurePIDHolder starts a holder for dir unless a live one holds it.
func ensurePIDHolder(dir, cgroupParent, id string) error {
	if pidHolderAlive(dir) {
		return nil
	}
	if err := stopPIDHolder(dir); err != nil {
		return err
	}
	return startPIDHolder(dir, cgroupParent, id)
}

// stopPIDHolder kills the holder recorded in dir, if it still holds the
// namespace pinned there (ending every process left in it), removes its
// cgroup and unpins the namespace. What is gone already is skipped.
func stopPIDHolder(dir string) error {
	pid, cg := readHolder(dir)
	// Found by its pin, or, if the agent stopped before pinning, by the
	// cgroup of its own it was recorded with.
	if pid > 0 && (holdsPin(dir, pid) || inCgroup(pid, cg)) && !killHolder(pid) {
		// Kept on record, to be tried again.
		return fmt.Errorf("the PID namespace holder %d did not exit", pid)
	}
	if cg != "" {
		removeCgroup(cg)
	}
	if err := nspin.Unpin(filepath.Join(dir, pidFile)); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, holderFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// killHolder kills pid and waits (briefly) until it has exited, which it
// reports: since it is not the agent's child but init's, it cannot be
// waited for. A PID 1 ends only once the kernel has killed and its parents
// reaped every other process of its namespace.
func killHolder(pid int) bool {
	_ = syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for !exited(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// exited reports whether pid is gone or a zombie.
func exited(pid int) bool {
	state, _, ok := procState(pid)
	return !ok || state == 'Z' || state == 'X'
}

// exiting reports whether pid has begun to exit (or has): a PID namespace
// whose first process is exiting takes no new process.
func exiting(pid int) bool {
	const pfExiting = 0x4 // PF_EXITING, set as the exit begins
	_, flags, ok := procState(pid)
	return exited(pid) || !ok || flags&pfExiting != 0
}

// procState reads the state and flags of pid from /proc/PID/stat.
func procState(pid int) (state byte, flags uint64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state, ppid, pgrp, session, tty_nr, tpgid, flags.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 7 || len(f[0]) != 1 {
		return 0, 0, false
	}
	flags, err = strconv.ParseUint(f[6], 10, 64)
	return f[0][0], flags, err == nil
}

// StopPIDHolder ends the PID namespace holder of the sandbox, if it has one,
// as StopSandbox does once its containers are stopped: for a pod that has
// finished, whose containers stay for their logs.
func (r *Runtime) StopPIDHolder(id string) error {
	r.pidMu.Lock()
	defer r.pidMu.Unlock()
	return stopPIDHolder(r.sandboxDir(id))
}
