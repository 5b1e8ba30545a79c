package kubelet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
)

func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "msg")
	logPath := filepath.Join(dir, "0.log")
	w, err := logs.NewWriter(logPath, logs.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := w.Stream(logs.Stdout)
	for i := 0; i < 200; i++ {
		out.Write([]byte(strings.Repeat("x", 40) + "\n"))
	}
	out.Write([]byte("last line\n"))
	out.Close()
	time.Sleep(100 * time.Millisecond)
	w.Close()

	st := func(code int, policy corev1.TerminationMessagePolicy) *runtime.ContainerStatus {
		return &runtime.ContainerStatus{ExitCode: code, LogPath: logPath, Labels: map[string]string{
			labelTerminationMessageFile: file, labelTerminationMessagePolicy: string(policy)}}
	}
	// No file written (missing or empty): nothing, unless falling back to the log on error.
	if m := terminationMessage(st(1, corev1.TerminationMessageReadFile)); m != "" {
		t.Errorf("no file, ReadFile: %q", m)
	}
	m := terminationMessage(st(1, corev1.TerminationMessageFallbackToLogsOnError))
	if len(m) != maxTerminationMessageLogLength || !strings.HasSuffix(m, "last line\n") {
		t.Errorf("fallback to log: %d bytes, ends %q", len(m), m[max(0, len(m)-20):])
	}
	// At most 80 lines, even when they fit in 2 KiB.
	os.WriteFile(file, nil, 0o666)
	short := filepath.Join(dir, "short.log")
	sw, _ := logs.NewWriter(short, logs.WriterOptions{})
	so := sw.Stream(logs.Stderr)
	for i := 0; i < 100; i++ {
		so.Write([]byte("l\n"))
	}
	so.Close()
	time.Sleep(100 * time.Millisecond)
	sw.Close()
	s := st(2, corev1.TerminationMessageFallbackToLogsOnError)
	s.LogPath = short
	if m := terminationMessage(s); m != strings.Repeat("l\n", 80) {
		t.Errorf("80 lines: got %d bytes", len(m))
	}
	if m := terminationMessage(st(0, corev1.TerminationMessageFallbackToLogsOnError)); m != "" {
		t.Errorf("fallback on success: %q", m)
	}
	// The file wins; only its last 4 KiB are read.
	big := strings.Repeat("a", 5000) + "END"
	if err := os.WriteFile(file, []byte(big), 0o666); err != nil {
		t.Fatal(err)
	}
	m = terminationMessage(st(1, corev1.TerminationMessageFallbackToLogsOnError))
	if len(m) != maxTerminationMessageLength || !strings.HasSuffix(m, "END") {
		t.Errorf("file: %d bytes", len(m))
	}
}

func TestLimitTerminationMessages(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: make([]corev1.Container, 3), InitContainers: make([]corev1.Container, 1)}}
	long := strings.Repeat("m", 5000)
	s := &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
		State:                corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: long}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: "short"}},
	}}}
	limitTerminationMessages(pod, s)
	if n := len(s.ContainerStatuses[0].State.Terminated.Message); n != 3072 {
		t.Errorf("cut to %d, want 3072", n)
	}
	if s.ContainerStatuses[0].LastTerminationState.Terminated.Message != "short" {
		t.Error("short message changed")
	}
}
