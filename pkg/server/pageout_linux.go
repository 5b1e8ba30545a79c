package server

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseBinaryPages hands back to the kernel the pages of skiff's own
// executable that start-up touched and an idle server no longer needs.
//
// The binary is large (the apiserver, controllers, kubelet, containerd client
// and kubectl in one file) and its start-up runs the init code of every
// package once; with the kernel's read-around on page faults (the device's
// read_ahead_kb, 8 MB on some VMs) most of the file ends up resident. This
// marks the read-only mappings of the executable MADV_RANDOM, so that later
// faults read only the page they need, and MADV_PAGEOUT, so that the kernel
// reclaims their clean pages now; the code an idle server runs faults back
// in within seconds and stays. Nothing is lost: these pages are clean copies of
// the file. It returns the bytes of the mappings it advised.
func releaseBinaryPages() (uint64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode pathname
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		for _, advice := range []int{unix.MADV_RANDOM, unix.MADV_PAGEOUT} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), uintptr(advice)); errno != 0 {
				return total, fmt.Errorf("madvise %s %#x-%#x: %w", exe, start, end, errno)
			}
		}
		total += end - start
	}
	return total, sc.Err()
}
