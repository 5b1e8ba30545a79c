package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/containerd/containerd/cio"
	"github.com/containerd/fifo"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
)

// containerIO is a container's stdio: the FIFOs the shim writes the
// container's output to, copied into the CRI log file and to any attached
// clients. It is what containerd's client calls a cio.IO.
//
// The FIFOs live under the runtime's RootDir, not in a temporary directory,
// because the shim keeps writing to them while the agent is down: a new
// Runtime reopens them (containerd hands back their paths) and the copying
// resumes. Output produced meanwhile waits in the pipes; once they fill (64
// KiB each) the container blocks on write until the agent is back.
type containerIO struct {
	config cio.Config
	log    *logs.Writer
	stdin  io.WriteCloser
	// stdinClosed makes closing stdin (stdinOnce, Close) happen once.
	stdinClosed sync.Once

	stdout, stderr *broadcaster
	openCtx        context.Context
	cancelOpen     context.CancelFunc
	readers        []io.Closer
	copying        sync.WaitGroup
	done           chan struct{} // closed when the output streams end
}

var _ cio.IO = (*containerIO)(nil)

// newContainerIO makes fresh FIFOs for a container about to start.
func newContainerIO(dir, id string, tty, stdin bool, log *logs.Writer) (*containerIO, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := cio.Config{
		Stdout:   filepath.Join(dir, id+"-stdout"),
		Terminal: tty,
	}
	if !tty {
		cfg.Stderr = filepath.Join(dir, id+"-stderr")
	}
	if stdin {
		cfg.Stdin = filepath.Join(dir, id+"-stdin")
	}
	return openContainerIO(cfg, log, false)
}

// openContainerIO opens a container's FIFOs and starts copying: new ones
// before the task starts, or, with existing, those of a task an earlier
// Runtime started.
func openContainerIO(cfg cio.Config, log *logs.Writer, existing bool) (c *containerIO, err error) {
	c = &containerIO{config: cfg, log: log, done: make(chan struct{})}
	c.openCtx, c.cancelOpen = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if cfg.Stdin != "" {
		if c.stdin, err = fifo.OpenFifo(c.openCtx, cfg.Stdin, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700); err != nil {
			return nil, err
		}
	}
	c.stdout = newBroadcaster(log.Stream(logs.Stdout))
	c.stderr = newBroadcaster(log.Stream(logs.Stderr))
	for _, s := range []struct {
		path string
		b    *broadcaster
	}{{cfg.Stdout, c.stdout}, {cfg.Stderr, c.stderr}} {
		if s.path == "" {
			s.b.close()
			continue
		}
		var r io.ReadCloser
		if existing {
			r, err = openExistingFIFO(s.path)
		} else {
			r, err = fifo.OpenFifo(c.openCtx, s.path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
		}
		if err != nil {
			return nil, err
		}
		c.readers = append(c.readers, r)
		c.copying.Add(1)
		go func(r io.Reader, b *broadcaster) {
			defer c.copying.Done()
			io.Copy(b, r)
			b.close()
		}(r, s.b)
	}
	go func() {
		c.copying.Wait()
		c.log.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *containerIO) Config() cio.Config { return c.config }

// Cancel stops FIFOs still being opened.
func (c *containerIO) Cancel() { c.cancelOpen() }

// Wait waits until the container's output has been copied out.
func (c *containerIO) Wait() { <-c.done }

// Close closes our ends of the FIFOs.
func (c *containerIO) Close() error {
	c.cancelOpen()
	for _, r := range c.readers {
		r.Close()
	}
	c.closeStdin()
	return nil
}

func (c *containerIO) closeStdin() {
	if c.stdin != nil {
		c.stdinClosed.Do(func() { c.stdin.Close() })
	}
}

// detach stops copying without touching the container, for a Runtime that
// closes while containers keep running.
func (c *containerIO) detach() {
	c.Close()
	<-c.done
}

// openExistingFIFO opens the read end of a FIFO the shim already writes to,
// without waiting for a writer: if the container has exited while nobody
// read, the shim has closed its end and the read ends at once (what remains
// in the pipe is read first), where a blocking open would wait forever. The
// descriptor is non-blocking so that Go's poller serves it and Close
// interrupts a read.
func openExistingFIFO(path string) (io.ReadCloser, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// removeFIFOs deletes the FIFO directory of a container that has exited.
func removeFIFOs(dir string) { os.RemoveAll(dir) }

// broadcaster copies a stream to the log and to attached clients; a client
// that fails is dropped, the log is never held up by one.
type broadcaster struct {
	log     io.WriteCloser
	mu      sync.Mutex
	clients map[io.Writer]chan struct{}
	closed  bool
}

func newBroadcaster(log io.WriteCloser) *broadcaster {
	return &broadcaster{log: log, clients: map[io.Writer]chan struct{}{}}
}

func (b *broadcaster) Write(p []byte) (int, error) {
	b.log.Write(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	for w, done := range b.clients {
		if _, err := w.Write(p); err != nil {
			delete(b.clients, w)
			close(done)
		}
	}
	return len(p), nil
}

// add attaches a client; the returned channel closes when the stream ends
// or the client is dropped.
func (b *broadcaster) add(w io.Writer) <-chan struct{} {
	done := make(chan struct{})
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(done)
		return done
	}
	b.clients[w] = done
	return done
}

func (b *broadcaster) remove(w io.Writer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if done, ok := b.clients[w]; ok {
		delete(b.clients, w)
		close(done)
	}
}

func (b *broadcaster) close() {
	b.log.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for w, done := range b.clients {
		delete(b.clients, w)
		close(done)
	}
}
