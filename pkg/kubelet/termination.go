package kubelet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
)

// Upstream's bounds on termination messages.
const (
	// maxTerminationMessageLength: the last this many bytes of the file are read.
	maxTerminationMessageLength = 4 << 10
	// maxTerminationMessageLogLength and maxTerminationMessageLogLines bound
	// a message taken from the log (FallbackToLogsOnError).
	maxTerminationMessageLogLength = 2 << 10
	maxTerminationMessageLogLines  = 80
	// maxPodTerminationMessageLength is shared by the pod's containers and
	// init containers.
	maxPodTerminationMessageLength = 12 << 10
)

// Labels on a container's runtime record: the host file bind-mounted at its
// terminationMessagePath, and its terminationMessagePolicy.
const (
	labelTerminationMessageFile   = "skiff.io/termination-message-file"
	labelTerminationMessagePolicy = "skiff.io/termination-message-policy"
)

// terminationMessageMount creates the container's termination message file,
// <pod dir>/containers/<name>/<random> (one per attempt, mode 0666 so that
// any user can write it, as upstream), and returns the mount binding it at
// the container's terminationMessagePath.
func (k *Kubelet) terminationMessageMount(pod *corev1.Pod, c *corev1.Container) (runtime.Mount, string, error) {
	dir := filepath.Join(k.vol.PodDir(pod.UID), "containers", c.Name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return runtime.Mount{}, "", fmt.Errorf("create termination message dir: %w", err)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return runtime.Mount{}, "", err
	}
	file := filepath.Join(dir, hex.EncodeToString(b[:]))
	f, err := os.Create(file)
	if err != nil {
		return runtime.Mount{}, "", fmt.Errorf("create termination message file: %w", err)
	}
	f.Close()
	if err := os.Chmod(file, 0o666); err != nil {
		return runtime.Mount{}, "", fmt.Errorf("create termination message file: %w", err)
	}
	return runtime.Mount{HostPath: file, ContainerPath: c.TerminationMessagePath}, file, nil
}

// terminationMessage is what an exited container left as its message, as
// upstream reads it: the end of its termination message file; with
// FallbackToLogsOnError, when that is empty and the container failed, the
// end of its log.
func terminationMessage(c *runtime.ContainerStatus) string {
	fallback := c.Labels[labelTerminationMessagePolicy] == string(corev1.TerminationMessageFallbackToLogsOnError) &&
		c.ExitCode != 0 && c.Reason != runtime.ReasonStartError
	if file := c.Labels[labelTerminationMessageFile]; file != "" {
		data, err := readAtMost(file, maxTerminationMessageLength)
		switch {
		case os.IsNotExist(err):
		case err != nil:
			return fmt.Sprintf("Error on reading termination log %s: %v", file, err)
		case len(data) > 0 || !fallback:
			return string(data)
		}
	}
	if !fallback || c.LogPath == "" {
		return ""
	}
	tail := int64(maxTerminationMessageLogLines)
	buf := &lastBytes{max: maxTerminationMessageLogLength}
	if err := logs.ReadLogs(context.Background(), c.LogPath, logs.ReadOptions{Tail: &tail}, buf, buf); err != nil {
		return fmt.Sprintf("Error on reading termination message from logs: %v", err)
	}
	return string(buf.b)
}

// readAtMost returns the last max bytes of a file.
func readAtMost(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// lastBytes keeps the last max bytes written to it.
type lastBytes struct {
	b   []byte
	max int
}

func (l *lastBytes) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > l.max {
		l.b = append(l.b[:0], l.b[len(l.b)-l.max:]...)
	}
	return len(p), nil
}

// limitTerminationMessages cuts every terminated message to the pod's share
// of maxPodTerminationMessageLength, as upstream's status manager does.
func limitTerminationMessages(pod *corev1.Pod, s *corev1.PodStatus) {
	per := maxPodTerminationMessageLength
	if n := len(pod.Spec.Containers) + len(pod.Spec.InitContainers); n > 0 {
		per /= n
	}
	cut := func(st *corev1.ContainerStateTerminated) {
		if st != nil && len(st.Message) > per {
			st.Message = st.Message[:per]
		}
	}
	for _, list := range [][]corev1.ContainerStatus{s.InitContainerStatuses, s.ContainerStatuses, s.EphemeralContainerStatuses} {
		for i := range list {
			cut(list[i].State.Terminated)
			cut(list[i].LastTerminationState.Terminated)
		}
	}
}
