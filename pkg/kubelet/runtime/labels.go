package runtime

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"
)

// Labels on containerd containers: the runtime's own state, recoverable from
// containerd alone after an agent restart.
const (
	labelPrefix = "io.skiff."
	// labelKind is "sandbox" or "container".
	labelKind    = labelPrefix + "kind"
	kindSandbox  = "sandbox"
	kindContaner = "container"

	labelSandboxID    = labelPrefix + "sandbox-id"
	labelPodUID       = labelPrefix + "pod-uid"
	labelPodName      = labelPrefix + "pod-name"
	labelPodNamespace = labelPrefix + "pod-namespace"
	labelNetNS        = labelPrefix + "netns"
	labelHostname     = labelPrefix + "hostname"
	labelLogDir       = labelPrefix + "log-directory"
	labelCgroupParent = labelPrefix + "cgroup-parent"
	labelHostNetwork  = labelPrefix + "host-network"
	labelHostIPC      = labelPrefix + "host-ipc"
	labelHostPID      = labelPrefix + "host-pid"
	labelSharePID     = labelPrefix + "share-pid"

	labelName       = labelPrefix + "name"
	labelAttempt    = labelPrefix + "attempt"
	labelImage      = labelPrefix + "image"
	labelImageRef   = labelPrefix + "image-ref"
	labelLogPath    = labelPrefix + "log-path"
	labelStopSignal = labelPrefix + "stop-signal"
	labelTTY        = labelPrefix + "tty"
	labelStdin      = labelPrefix + "stdin"
	labelStdinOnce  = labelPrefix + "stdin-once"
	labelCgroupPath = labelPrefix + "cgroups-path"

	// Set when the container starts and when its exit has been handled (the
	// task is then deleted, so these are all that remain of it).
	labelStartedAt  = labelPrefix + "started-at"
	labelFinishedAt = labelPrefix + "finished-at"
	labelExitCode   = labelPrefix + "exit-code"
	labelReason     = labelPrefix + "reason"
	labelMessage    = labelPrefix + "message"
	labelOOM        = labelPrefix + "oom-killed"

	// userLabelPrefix keeps the caller's labels apart from ours.
	userLabelPrefix = "label."
)

// newID returns a container or sandbox id as CRI runtimes make them: 64 hex digits.
func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func parseInt(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// userLabels returns the caller's labels, stored with a prefix.
func userLabels(all map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range all {
		if len(k) > len(userLabelPrefix) && k[:len(userLabelPrefix)] == userLabelPrefix {
			out[k[len(userLabelPrefix):]] = v
		}
	}
	return out
}
