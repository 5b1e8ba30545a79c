//go:build linux && cgo

package pidholder

/*
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void skiff_holder_reap(int sig) {
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
}

static void skiff_holder_quit(int sig) {
	(void)sig;
	_exit(0);
}

// skiff_pid_holder runs before the Go runtime in every start of the binary
// (glibc passes constructors the program's arguments) and returns at once
// unless the binary was executed as skiff-pause with _SKIFF_PID_HOLDER=1:
// the variable alone, exported by mistake, must not turn every command into
// a holder.
__attribute__((constructor)) static void skiff_pid_holder(int argc, char **argv, char **envp) {
	(void)envp;
	const char *v = getenv("_SKIFF_PID_HOLDER");
	if (v == NULL || strcmp(v, "1") != 0 || argc < 1 || argv == NULL || argv[0] == NULL || strcmp(argv[0], "skiff-pause") != 0) {
		return;
	}
	if (unshare(CLONE_NEWPID) != 0) {
		fprintf(stderr, "unshare a PID namespace: %s\n", strerror(errno));
		_exit(1);
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "fork the holder: %s\n", strerror(errno));
		_exit(1);
	}
	if (pid > 0) {
		printf("%d\n", (int)pid);
		fflush(stdout);
		_exit(0);
	}
	// PID 1 of the new namespace: no terminal, none of the caller's pipes
	// or other files, no directory kept busy, a session of its own, and
	// no signal blocked.
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	} else {
		close(0);
		close(1);
		close(2);
	}
	if (syscall(SYS_close_range, 3, ~0U, 0) != 0) {
		for (int fd = 3; fd < 1024; fd++) {
			close(fd);
		}
	}
	if (chdir("/") != 0) {
		_exit(1);
	}
	setsid();
	prctl(PR_SET_NAME, "skiff-pause", 0, 0, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	// PID 1 gets no signal it does not handle: TERM and INT end it, as
	// they end pause; CHLD reaps.
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = skiff_holder_quit;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = skiff_holder_reap;
	sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	for (;;) {
		pause();
	}
}
*/
import "C"

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Start starts a holder in a new PID namespace and returns its PID, as the
// caller's namespace numbers it. The holder runs until it is killed.
func Start() (int, error) {
	var stdout, stderr bytes.Buffer
	cmd := &exec.Cmd{
		Path:   "/proc/self/exe",
		Args:   []string{Name},
		Env:    []string{Env + "=1"},
		Dir:    "/",
		Stdout: &stdout,
		Stderr: &stderr,
		// The holder lets go of the pipes at once; should it not, Run
		// still returns.
		WaitDelay: 5 * time.Second,
	}
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("start the PID namespace holder: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("start the PID namespace holder: unexpected output %q", stdout.String())
	}
	return pid, nil
}
