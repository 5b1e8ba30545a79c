package logs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock advances one millisecond per reading.
func fakeClock(start time.Time) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestWriter(t *testing.T, opts WriterOptions) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app", "0.log")
	if opts.Now == nil {
		opts.Now = fakeClock(t0)
	}
	w, err := NewWriter(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, path
}

func TestWriterFormat(t *testing.T) {
	w, path := newTestWriter(t, WriterOptions{MaxLineSize: 16})
	out := w.Stream(Stdout)
	out.Write([]byte("hello\nwor"))
	out.Write([]byte("ld\n" + strings.Repeat("x", 20) + "\n" + strings.Repeat("y", 16) + "\ntail"))
	out.Close()
	errw := w.Stream(Stderr)
	errw.Write([]byte("oops\n"))
	errw.Close()

	data, _ := os.ReadFile(path)
	want := []string{
		"2026-01-02T03:04:05.001Z stdout F hello",
		"2026-01-02T03:04:05.002Z stdout F world",
		"2026-01-02T03:04:05.003Z stdout P " + strings.Repeat("x", 16),
		"2026-01-02T03:04:05.004Z stdout F xxxx",
		"2026-01-02T03:04:05.005Z stdout F " + strings.Repeat("y", 16),
		"2026-01-02T03:04:05.006Z stdout P tail",
		"2026-01-02T03:04:05.007Z stderr F oops",
		"",
	}
	if got := string(data); got != strings.Join(want, "\n") {
		t.Fatalf("log file:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestWriterRotation(t *testing.T) {
	now := t0
	clock := func() time.Time { now = now.Add(time.Second); return now }
	w, path := newTestWriter(t, WriterOptions{MaxSize: 100, MaxFiles: 3, Now: clock})
	for i := 0; i < 10; i++ {
		if err := w.CopyFrom(Stdout, strings.NewReader(strings.Repeat("z", 60)+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	rotated := RotatedFiles(path)
	if len(rotated) != 2 {
		t.Fatalf("rotated files %v, want 2 (MaxFiles 3 with the current one)", rotated)
	}
	for _, p := range append(rotated, path) {
		if st, err := os.Stat(p); err != nil || st.Size() > 200 {
			t.Fatalf("%s: %v %v", p, st, err)
		}
	}
	if rotated[0] >= rotated[1] {
		t.Fatalf("not oldest first: %v", rotated)
	}
}

func writeLog(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func int64p(v int64) *int64 { return &v }

func TestReadLogs(t *testing.T) {
	path := writeLog(t,
		"2026-01-02T03:04:05.000000001Z stdout F one",
		"2026-01-02T03:04:06Z stderr F two",
		"2026-01-02T03:04:07Z stdout P thr",
		"2026-01-02T03:04:07.5Z stdout F ee",
		"not a cri line",
		"2026-01-02T03:04:08Z stdout F four",
	)
	for _, tc := range []struct {
		name           string
		opts           ReadOptions
		stdout, stderr string
	}{
		{name: "all", stdout: "one\nthree\nfour\n", stderr: "two\n"},
		{name: "tail 2", opts: ReadOptions{Tail: int64p(2)}, stdout: "four\n"},
		{name: "tail 0", opts: ReadOptions{Tail: int64p(0)}},
		{name: "tail more than lines", opts: ReadOptions{Tail: int64p(50)}, stdout: "one\nthree\nfour\n", stderr: "two\n"},
		{name: "since", opts: ReadOptions{Since: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)}, stdout: "three\nfour\n", stderr: "two\n"},
		{name: "timestamps", opts: ReadOptions{Timestamps: true, Tail: int64p(1)},
			stdout: "2026-01-02T03:04:08.000000000Z four\n"},
		{name: "limit bytes", opts: ReadOptions{LimitBytes: int64p(6)}, stdout: "one\n", stderr: "tw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := ReadLogs(context.Background(), path, tc.opts, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			if stdout.String() != tc.stdout || stderr.String() != tc.stderr {
				t.Fatalf("stdout %q stderr %q, want %q %q", stdout.String(), stderr.String(), tc.stdout, tc.stderr)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a reader goroutine and the test.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadLogsFollow(t *testing.T) {
	w, path := newTestWriter(t, WriterOptions{MaxSize: 150, MaxFiles: 2})
	out := w.Stream(Stdout)
	defer out.Close()
	out.Write([]byte("before\n"))

	var running atomic.Bool
	running.Store(true)
	opts := ReadOptions{Follow: true, Tail: int64p(1), Running: func(context.Context) (bool, error) { return running.Load(), nil }}
	stdout := newSyncBuffer()
	done := make(chan error, 1)
	go func() { done <- ReadLogs(context.Background(), path, opts, stdout, stdout) }()

	waitFor(t, "the existing line", func() bool { return stdout.String() == "before\n" })
	out.Write([]byte("after\n"))
	waitFor(t, "a new line", func() bool { return stdout.String() == "before\nafter\n" })
	// Past MaxSize the file rotates; the follower moves to the new file.
	long := strings.Repeat("r", 120)
	out.Write([]byte(long + "\nnew file\n"))
	waitFor(t, "lines after a rotation", func() bool {
		return stdout.String() == "before\nafter\n"+long+"\nnew file\n"
	})
	out.Write([]byte("last\n"))
	running.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("follow did not return once the container stopped")
	}
	if got := stdout.String(); !strings.HasSuffix(got, "new file\nlast\n") {
		t.Fatalf("follow output %q", got)
	}
}

func TestFollowCancelled(t *testing.T) {
	_, path := newTestWriter(t, WriterOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ReadLogs(ctx, path, ReadOptions{Follow: true, Running: func(context.Context) (bool, error) { return true, nil }}, &bytes.Buffer{}, &bytes.Buffer{})
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("want the context's error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("follow ignored the cancelled context")
	}
}
