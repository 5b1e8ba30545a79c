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
// and returns at once unless the variable _SKIFF_PID_HOLDER is "1".
__attribute__((constructor)) static void skiff_pid_holder(void) {
	const char *v = getenv("_SKIFF_PID_HOLDER");
	if (v == NULL || strcmp(v, "1") != 0) {
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
	// PID 1 of the new namespace: no terminal, no caller's pipes, no
	// directory kept busy, a session of its own.
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2) {
			close(null);
		}
	}
	if (chdir("/") != 0) {
		_exit(1);
	}
	setsid();
	prctl(PR_SET_NAME, "skiff-pause", 0, 0, 0);
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
