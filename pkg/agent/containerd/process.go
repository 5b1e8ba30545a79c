package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a supervised containerd: the one Start launched or adopted, replaced by a new one
// each time it dies, until Stop.
type Process struct {
	cfg Config

	mu       sync.Mutex
	cur      *daemon
	restarts int

	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
	err      error
}

// Start launches containerd with cfg, or adopts the one a previous agent left running on the
// same state dir, and returns once its socket answers. From then on containerd is restarted
// with back-off whenever it dies, until Stop is called or ctx is done (which acts as Stop).
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(cfg.Binary); err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	if err := cfg.writeConfig(); err != nil {
		return nil, fmt.Errorf("containerd: write config: %w", err)
	}
	p := &Process{cfg: cfg, stopCh: make(chan struct{}), done: make(chan struct{})}
	d, err := p.adopt(ctx)
	if err != nil {
		return nil, err
	}
	if d == nil {
		if d, err = p.launch(ctx); err != nil {
			return nil, err
		}
	}
	p.cur = d
	// Stop also cancels a restart that is waiting for the socket.
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		<-p.stopCh
		cancel()
	}()
	go func() {
		<-p.done
		cancel()
	}()
	go p.supervise(sctx, d)
	return p, nil
}

// Address is the socket containerd serves its API on.
func (p *Process) Address() string { return p.cfg.Address }

// Snapshotter is the snapshotter clients should unpack images with.
func (p *Process) Snapshotter() string { return p.cfg.Snapshotter }

// Pid is the pid of the current containerd.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur.pid
}

// Restarts counts how many times containerd was started again after dying.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Wait blocks until supervision ends (Stop, or the context given to Start is done) and
// returns what went wrong stopping containerd, if anything.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Stop ends supervision. Unless Config.KeepRunning, containerd is sent SIGTERM, then SIGKILL
// after Config.StopGrace, and Stop returns once it has exited. The containers' shims are
// separate processes and outlive containerd either way.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { close(p.stopCh) })
	return p.Wait()
}

func (p *Process) supervise(ctx context.Context, d *daemon) {
	defer close(p.done)
	backoff := p.cfg.MinBackoff
	for {
		select {
		case <-p.stopCh:
			p.err = p.shutdown(d)
			return
		case <-ctx.Done():
			p.err = p.shutdown(d)
			return
		case <-d.exited:
		}
		// A containerd that ran for a while before dying gets restarted quickly again; one
		// that keeps dying at once is restarted less and less often.
		if time.Since(d.started) > time.Minute {
			backoff = p.cfg.MinBackoff
		}
		p.cfg.Logf("containerd (pid %d) exited: %s; restarting in %s", d.pid, d.status(), backoff)
		for {
			select {
			case <-p.stopCh:
				return
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, p.cfg.MaxBackoff)
			nd, err := p.launch(ctx)
			if err != nil {
				p.cfg.Logf("containerd restart failed: %v; retrying in %s", err, backoff)
				continue
			}
			d = nd
			break
		}
		p.mu.Lock()
		p.cur = d
		p.restarts++
		p.mu.Unlock()
		p.cfg.Logf("containerd restarted (pid %d)", d.pid)
		if p.cfg.OnRestart != nil {
			p.cfg.OnRestart()
		}
	}
}

// shutdown stops containerd unless it is to keep running.
func (p *Process) shutdown(d *daemon) error {
	if p.cfg.KeepRunning {
		d.release()
		return nil
	}
	_ = d.signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(p.cfg.StopGrace):
		p.cfg.Logf("containerd (pid %d) did not exit within %s of SIGTERM; killing it", d.pid, p.cfg.StopGrace)
		_ = d.signal(syscall.SIGKILL)
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("containerd (pid %d) survived SIGKILL", d.pid)
		}
	}
	_ = os.Remove(p.cfg.pidPath())
	return nil
}

// launch starts a new containerd and waits until it serves.
func (p *Process) launch(ctx context.Context) (*daemon, error) {
	logf, err := os.OpenFile(p.cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("containerd: open log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(p.cfg.Binary, "--config", p.cfg.configPath())
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a ^C meant for the agent in a terminal must not reach
	// containerd, which the agent stops itself (or leaves running on purpose).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("containerd: start: %w", err)
	}
	d := newChild(cmd)
	if err := os.WriteFile(p.cfg.pidPath(), []byte(strconv.Itoa(d.pid)+"\n"), 0o600); err != nil {
		_ = d.signal(syscall.SIGKILL)
		return nil, fmt.Errorf("containerd: write pid file: %w", err)
	}
	if err := p.waitServing(ctx, d); err != nil {
		_ = d.signal(syscall.SIGKILL)
		<-d.exited
		return nil, err
	}
	return d, nil
}

// adopt returns the containerd a previous agent left running on this state dir, or nil when
// there is none to adopt.
func (p *Process) adopt(ctx context.Context) (*daemon, error) {
	b, err := os.ReadFile(p.cfg.pidPath())
	if err != nil {
		return nil, nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !isOurContainerd(pid, p.cfg.configPath()) {
		return nil, nil
	}
	d := newAdopted(pid)
	if err := p.waitServing(ctx, d); err != nil {
		// Alive but not answering: replace it rather than wait forever.
		p.cfg.Logf("containerd (pid %d) left running does not answer (%v); replacing it", pid, err)
		_ = d.signal(syscall.SIGKILL)
		<-d.exited
		return nil, nil
	}
	p.cfg.Logf("adopted running containerd (pid %d)", pid)
	return d, nil
}

// waitServing polls the socket until containerd answers, it exits, or StartTimeout passes.
func (p *Process) waitServing(ctx context.Context, d *daemon) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	var last error
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("containerd exited before serving (%s); see %s", d.status(), p.cfg.LogPath)
		default:
		}
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := Connect(actx, p.cfg.Address)
		acancel()
		if err == nil {
			c.Close()
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("containerd did not answer on %s: %w", p.cfg.Address, ctx.Err()), last)
		case <-d.exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
}
