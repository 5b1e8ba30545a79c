package nspin

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestPinAndUnpin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("pinning a namespace needs root")
	}
	dir := t.TempDir()
	for _, kind := range []Kind{Net, IPC} {
		path := filepath.Join(dir, string(kind))
		// The process's namespace, as /proc/self (its main thread) shows it:
		// New may have run on the main thread, which Go parks instead of
		// ending, so it must go back. Several pins make that likely.
		before, err := os.Stat("/proc/self/ns/" + string(kind))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			p := filepath.Join(dir, fmt.Sprintf("%s-%d", kind, i))
			if err := New(p, kind, nil); err != nil {
				t.Fatal(err)
			}
			if err := Unpin(p); err != nil {
				t.Fatal(err)
			}
		}
		ran := false
		if err := New(path, kind, func() error { ran = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if !ran || !IsPinned(path) {
			t.Fatalf("%s: setup ran %v, pinned %v", kind, ran, IsPinned(path))
		}
		if after, err := os.Stat("/proc/self/ns/" + string(kind)); err != nil || !os.SameFile(before, after) {
			t.Errorf("%s: the process's namespace changed (%v)", kind, err)
		}
		// Nor is this goroutine's thread in the pinned namespace.
		runtime.LockOSThread()
		own, err1 := os.Stat("/proc/thread-self/ns/" + string(kind))
		runtime.UnlockOSThread()
		pinned, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || os.SameFile(own, pinned) {
			t.Errorf("%s: pinned the caller's own namespace (%v, %v)", kind, err1, err2)
		}
		// A second pin at the same path fails and leaves the first.
		if err := New(path, kind, nil); err == nil || !IsPinned(path) {
			t.Errorf("%s: pinning over a pinned path: %v, still pinned %v", kind, err, IsPinned(path))
		}
		if err := Unpin(path); err != nil || IsPinned(path) {
			t.Fatalf("%s: unpin: %v, still pinned %v", kind, err, IsPinned(path))
		}
		if err := Unpin(path); err != nil {
			t.Errorf("%s: unpinning twice: %v", kind, err)
		}
	}
	if err := New(filepath.Join(dir, "x"), Kind("pid"), nil); err == nil {
		t.Error("an unknown kind was accepted")
	}
	// A failed setup leaves nothing behind.
	failed := filepath.Join(dir, "failed")
	if err := New(failed, Net, func() error { return os.ErrInvalid }); err == nil {
		t.Fatal("a failed setup was not reported")
	}
	if _, err := os.Stat(failed); !os.IsNotExist(err) {
		t.Errorf("a failed pin left %s: %v", failed, err)
	}
}
