package runtime

import (
	"context"
	"fmt"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// EventType says what happened to a container.
type EventType string

// Container events.
const (
	EventStarted EventType = "started"
	EventExited  EventType = "exited"
)

// Event tells a subscriber (the kubelet's pod lifecycle event generator)
// that a container changed, so that it need not wait for its next relist.
type Event struct {
	Type                   EventType
	ContainerID, SandboxID string
}

// Subscribe returns a channel of container events and a function that ends
// the subscription. Events are dropped when the subscriber falls behind:
// they are hints; ListContainers is the truth.
func (r *Runtime) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 128)
	r.subsMu.Lock()
	r.subs[ch] = struct{}{}
	r.subsMu.Unlock()
	return ch, func() {
		r.subsMu.Lock()
		defer r.subsMu.Unlock()
		if _, ok := r.subs[ch]; ok {
			delete(r.subs, ch)
			close(ch)
		}
	}
}

func (r *Runtime) publish(e Event) {
	r.subsMu.Lock()
	defer r.subsMu.Unlock()
	for ch := range r.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// watchEvents records containerd's OOM events: the kernel's OOM kill of a
// container's process is what makes its exit reason OOMKilled.
func (r *Runtime) watchEvents(ready chan struct{}) {
	defer r.wg.Done()
	for {
		ch, errs := r.client.EventService().Subscribe(r.bgCtx, `topic=="/tasks/oom"`)
		if ready != nil {
			close(ready)
			ready = nil
		}
	recv:
		for {
			select {
			case <-r.bgCtx.Done():
				return
			case err := <-errs:
				if r.bgCtx.Err() != nil {
					return
				}
				r.cfg.Logf("containerd events: %v; resubscribing", err)
				break recv
			case e := <-ch:
				if e == nil || e.Namespace != r.cfg.Namespace {
					continue
				}
				v, err := typeurl.UnmarshalAny(e.Event)
				if err != nil {
					continue
				}
				if oom, ok := v.(*apievents.TaskOOM); ok {
					r.recordOOM(oom.ContainerID)
				}
			}
		}
		select {
		case <-r.bgCtx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (r *Runtime) recordOOM(id string) {
	r.mu.Lock()
	r.oomed[id] = true
	r.mu.Unlock()
	// Keep it in containerd too, for a Runtime that handles the exit after
	// an agent restart.
	if c, err := r.client.LoadContainer(r.bgCtx, id); err == nil {
		_ = r.setLabels(r.bgCtx, c, map[string]string{labelOOM: "true"})
	}
}

// exitReason is the kubelet's reason for an exited container.
func (r *Runtime) exitReason(id string, labels map[string]string, code int) string {
	r.mu.Lock()
	oomed := r.oomed[id]
	r.mu.Unlock()
	if oomed || labels[labelOOM] == "true" || cgroupOOMKilled(labels[labelCgroupPath]) {
		return ReasonOOMKilled
	}
	if code == 0 {
		return ReasonCompleted
	}
	return ReasonError
}

// exitLocks serialises the handling of one container's exit.
var exitLocks sync.Map

// exitOutputWait bounds the wait for an exited container's output to end
// (a process it left behind may hold it open).
const exitOutputWait = 10 * time.Second

// handleExit records an exited container's status in its labels, after its
// output is in the log and before its task (and cgroup) goes, then deletes
// the task so the shim can go too. It is idempotent.
func (r *Runtime) handleExit(ctx context.Context, id string) error {
	mu, _ := exitLocks.LoadOrStore(id, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer func() {
		mu.(*sync.Mutex).Unlock()
	}()
	rec, err := r.record(ctx, id, kindContaner)
	if err != nil {
		return err
	}
	labels := rec.labels
	if labels[labelExitCode] != "" {
		return nil
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return err
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return err
	}
	if st.Status != containerd.Stopped {
		return fmt.Errorf("container %s has not exited (%s)", id, st.Status)
	}
	// Tracked until its output has ended: until then its status is not
	// exited (see outputPending).
	if cio := r.tracked(id); cio != nil {
		select {
		case <-cio.done:
		case <-time.After(exitOutputWait):
			// Something else holds the output open; do not wait forever.
			r.cfg.Logf("container %s exited but its output did not end within %v; detaching", id, exitOutputWait)
			cio.detach()
		}
		r.untrack(id)
		cio.Close()
	}
	code := int(st.ExitStatus)
	if err := r.setLabels(ctx, c, map[string]string{
		labelExitCode:   fmt.Sprint(code),
		labelFinishedAt: formatTime(st.ExitTime),
		labelReason:     r.exitReason(id, labels, code),
	}); err != nil {
		return err
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		r.cfg.Logf("delete task of container %s: %v", id, err)
	}
	removeFIFOs(r.fifoDir(id))
	r.mu.Lock()
	delete(r.oomed, id)
	r.mu.Unlock()
	exitLocks.Delete(id)
	r.publish(Event{Type: EventExited, ContainerID: id, SandboxID: labels[labelSandboxID]})
	return nil
}

// recover re-adopts the containers of an earlier Runtime: their output is
// copied to the logs again and their exits handled.
func (r *Runtime) recover(ctx context.Context) error {
	for _, rec := range r.listRecords(kindContaner, nil) {
		labels := rec.labels
		if labels[labelStartedAt] == "" {
			continue
		}
		c, err := r.client.LoadContainer(ctx, rec.id)
		if err != nil {
			continue
		}
		if labels[labelExitCode] != "" {
			// Recorded, but the task was left behind (the agent stopped
			// in between): let its shim go.
			if task, err := c.Task(ctx, nil); err == nil {
				task.Delete(ctx)
			}
			continue
		}
		var attached *containerIO
		task, err := c.Task(ctx, func(fifos *cio.FIFOSet) (cio.IO, error) {
			lw, err := r.logWriter(labels[labelLogPath])
			if err != nil {
				return nil, err
			}
			attached, err = openContainerIO(fifos.Config, lw, true)
			if err != nil {
				lw.Close()
			}
			return attached, err
		})
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			r.cfg.Logf("re-adopt container %s: %v", c.ID(), err)
			continue
		}
		exitCh, err := task.Wait(r.bgCtx)
		if err != nil {
			r.cfg.Logf("re-adopt container %s: %v", c.ID(), err)
			if attached != nil {
				attached.detach()
			}
			continue
		}
		if attached == nil {
			continue
		}
		r.track(c.ID(), attached, exitCh)
	}
	return nil
}
