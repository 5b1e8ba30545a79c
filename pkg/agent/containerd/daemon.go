package containerd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is one containerd process: a child this agent started, or one adopted from a previous
// agent, which can only be watched by polling since it is not our child.
type daemon struct {
	pid     int
	started time.Time
	exited  chan struct{} // closed once the process is gone

	mu     sync.Mutex
	state  string        // how it ended, once exited
	quit   chan struct{} // stops watching an adopted process
	quitMu sync.Once
}

func newChild(cmd *exec.Cmd) *daemon {
	d := &daemon{pid: cmd.Process.Pid, started: time.Now(), exited: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		if err != nil {
			d.state = err.Error()
		} else {
			d.state = "exit status 0"
		}
		d.mu.Unlock()
		close(d.exited)
	}()
	return d
}

func newAdopted(pid int) *daemon {
	d := &daemon{pid: pid, started: time.Now(), exited: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-d.quit:
				return
			case <-t.C:
			}
			if !alive(pid) {
				d.mu.Lock()
				d.state = "gone"
				d.mu.Unlock()
				close(d.exited)
				return
			}
		}
	}()
	return d
}

func (d *daemon) status() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

func (d *daemon) signal(sig syscall.Signal) error {
	select {
	case <-d.exited:
		return nil
	default:
	}
	return syscall.Kill(d.pid, sig)
}

// release stops watching the process and leaves it running. A child's Wait goroutine stays so
// that it is reaped if it exits while this agent process still lives.
func (d *daemon) release() { d.quitMu.Do(func() { close(d.quit) }) }

// alive reports whether pid is a live process (a zombie counts as gone).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself hold spaces.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// isOurContainerd checks that pid is a live containerd started with configPath, so that a pid
// file pointing at a reused pid is not mistaken for our daemon.
func isOurContainerd(pid int, configPath string) bool {
	if pid <= 0 || !alive(pid) {
		return false
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil || !strings.HasPrefix(filepath.Base(exe), "containerd") {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	for _, a := range strings.Split(string(b), "\x00") {
		if a == configPath {
			return true
		}
	}
	return false
}
