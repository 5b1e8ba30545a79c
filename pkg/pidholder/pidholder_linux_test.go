//go:build linux && cgo

package pidholder

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The holder is PID 1 of a namespace of its own, not the caller's child,
// reaps the orphans left in its namespace, and ends on SIGTERM.
func TestHolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a PID namespace needs root")
	}
	pid, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	status := procStatus(t, pid)
	if got := status["NSpid"]; len(got) != 2 || got[1] != "1" {
		t.Errorf("NSpid %v, want the holder to be PID 1 of a namespace of its own", got)
	}
	if got := status["PPid"]; len(got) != 1 || got[0] == strconv.Itoa(os.Getpid()) {
		t.Errorf("PPid %v: the holder is the caller's child", got)
	}
	if got := status["Name"]; len(got) != 1 || got[0] != Name {
		t.Errorf("Name %v, want %s", got, Name)
	}
	if own, theirs := nsOf(t, os.Getpid()), nsOf(t, pid); own == theirs {
		t.Errorf("the holder shares the caller's PID namespace %s", own)
	}
	t.Logf("holder RSS %v kB (anon %v kB)", status["VmRSS"], status["RssAnon"])

	// An orphan of the namespace is the holder's to reap.
	if _, err := exec.LookPath("nsenter"); err == nil {
		out, err := exec.Command("nsenter", "--target", strconv.Itoa(pid), "--pid", "--",
			"/bin/sh", "-c", "/bin/sleep 0.3 & echo $!").CombinedOutput()
		if err != nil {
			t.Fatalf("nsenter: %v: %s", err, out)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			children, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
			zombie := false
			for _, c := range strings.Fields(string(children)) {
				st, _ := os.ReadFile("/proc/" + c + "/stat")
				if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
					zombie = true
				}
			}
			if len(children) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the holder still has children %q (a zombie: %v)", children, zombie)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The variable alone, exported by mistake, changes nothing.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), Env+"=1")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Errorf("the binary with %s=1 but another name: %v: %s", Env, err, out)
	}

	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			break
		}
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
			break // ended; its parent, init, reaps it
		}
		if time.Now().After(deadline) {
			t.Fatal("the holder did not end on SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func procStatus(t *testing.T, pid int) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.Fields(v)
		}
	}
	return out
}

func nsOf(t *testing.T, pid int) string {
	t.Helper()
	l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
