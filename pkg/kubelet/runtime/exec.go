package runtime

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
)

// TerminalSize is a TTY's size, for resize events.
type TerminalSize struct{ Width, Height uint16 }

// ExecOptions are the streams and terminal of an exec or attach session.
type ExecOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	// Resize delivers terminal size changes while the session lasts.
	Resize <-chan TerminalSize
}

// Exec runs cmd in a running container, as `kubectl exec` does, and returns
// its exit code once it exits and its output is copied. Cancelling ctx
// kills the process.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, opts ExecOptions) (int, error) {
	ctx = r.ctx(ctx)
	if len(cmd) == 0 {
		return -1, fmt.Errorf("exec in container %s: no command", id)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			err = errNotRunning
		}
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	// The container's process spec (user, env, cwd, capabilities) with the
	// command, as CRI runtimes do.
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = opts.TTY
	pspec.ConsoleSize = nil

	execID := newID()[:32]
	var stdin io.Reader
	var stdinDone chan struct{}
	if opts.Stdin != nil {
		stdinDone = make(chan struct{})
		stdin = &eofNotifier{r: opts.Stdin, done: stdinDone}
	}
	// Plain writers: containerd copies each stream with io.Copy, which would
	// use a ReaderFrom (bytes.Buffer's) unlocked from two goroutines when
	// one writer serves both streams.
	stdout := &lockedWriter{w: orDiscard(opts.Stdout)}
	stderr := stdout
	if opts.Stderr != opts.Stdout {
		stderr = &lockedWriter{w: orDiscard(opts.Stderr)}
	}
	streams := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(r.fifoDir("exec"))}
	if opts.TTY {
		streams = append(streams, cio.WithTerminal)
	}
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(streams...))
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	// Detached from ctx: the process must be deleted even after a cancel.
	cleanup := r.ctx(context.Background())
	defer proc.Delete(cleanup, containerd.WithProcessKill)
	exitCh, err := proc.Wait(cleanup)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	if stdinDone != nil {
		go func() {
			select {
			case <-stdinDone:
				// The client closed stdin: let the process see EOF.
				proc.CloseIO(cleanup, containerd.WithStdinCloser)
			case <-exitCh:
			}
		}()
	}
	stopResize := forwardResize(cleanup, opts.Resize, proc.Resize)
	defer stopResize()
	select {
	case es := <-exitCh:
		code, _, err := es.Result()
		if err != nil {
			return -1, fmt.Errorf("exec in container %s: %w", id, err)
		}
		// Wait for the output to be copied out before answering.
		proc.IO().Wait()
		return int(code), nil
	case <-ctx.Done():
		proc.Kill(cleanup, syscall.SIGKILL)
		<-exitCh
		return -1, ctx.Err()
	}
}

// Attach connects streams to a running container's stdio, as `kubectl
// attach` does. Output is what the container writes from now on; stdin goes
// to the container when it was created with Stdin. It returns when the
// container's output ends, a client stream fails, or ctx ends.
func (r *Runtime) Attach(ctx context.Context, id string, opts ExecOptions) error {
	ctx = r.ctx(ctx)
	r.mu.Lock()
	cio := r.ios[id]
	r.mu.Unlock()
	if cio == nil {
		return fmt.Errorf("attach to container %s: %w", id, errNotRunning)
	}
	rec, err := r.record(ctx, id, kindContaner)
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	labels := rec.labels
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	var ends []<-chan struct{}
	if opts.Stdout != nil {
		w := &lockedWriter{w: opts.Stdout}
		ends = append(ends, cio.stdout.add(w))
		defer cio.stdout.remove(w)
	}
	if opts.Stderr != nil && !cio.config.Terminal {
		w := &lockedWriter{w: opts.Stderr}
		ends = append(ends, cio.stderr.add(w))
		defer cio.stderr.remove(w)
	}
	stdinEnded := make(chan struct{})
	if opts.Stdin != nil && cio.stdin != nil {
		go func() {
			defer close(stdinEnded)
			io.Copy(cio.stdin, opts.Stdin)
			if labels[labelStdinOnce] == "true" {
				// stdinOnce: the container's stdin closes with the first
				// attached client's. The FIFO ends only when every writer is
				// gone: ours, and the shim's own (CloseIO).
				cio.closeStdin()
				if task, err := c.Task(r.ctx(context.Background()), nil); err == nil {
					task.CloseIO(r.ctx(context.Background()), containerd.WithStdinCloser)
				}
			}
		}()
	}
	if opts.Resize != nil {
		if task, err := c.Task(ctx, nil); err == nil {
			stop := forwardResize(ctx, opts.Resize, task.Resize)
			defer stop()
		}
	}
	anyEnd := make(chan struct{})
	var once sync.Once
	for _, e := range ends {
		go func(e <-chan struct{}) {
			select {
			case <-e:
				once.Do(func() { close(anyEnd) })
			case <-anyEnd:
			}
		}(e)
	}
	select {
	case <-ctx.Done():
	case <-anyEnd:
	case <-cio.done:
	}
	once.Do(func() { close(anyEnd) })
	return nil
}

// forwardResize applies terminal size changes until stop is called.
func forwardResize(ctx context.Context, sizes <-chan TerminalSize, resize func(context.Context, uint32, uint32) error) (stop func()) {
	if sizes == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s, ok := <-sizes:
				if !ok {
					return
				}
				resize(ctx, uint32(s.Width), uint32(s.Height))
			}
		}
	}()
	return func() { close(done) }
}

// eofNotifier closes done when the reader is exhausted.
type eofNotifier struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}

// lockedWriter lets the stdout and stderr copiers share one client writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
