package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/plugin"
	runcoptions "github.com/containerd/containerd/runtime/v2/runc/options"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
)

// ContainerState is a container's state as the CRI names it.
type ContainerState string

// Container states.
const (
	StateCreated ContainerState = "created"
	StateRunning ContainerState = "running"
	StateExited  ContainerState = "exited"
	StateUnknown ContainerState = "unknown"
)

// Reasons of an exited container, as the kubelet reports them.
const (
	ReasonCompleted  = "Completed"
	ReasonError      = "Error"
	ReasonOOMKilled  = "OOMKilled"
	ReasonStartError = "StartError"
)

// ContainerStatus is what the kubelet needs for a container status.
type ContainerStatus struct {
	ID, SandboxID string
	Name          string
	Attempt       int
	// Image is the reference the container was created with; ImageRef its
	// image ID.
	Image, ImageRef string
	State           ContainerState
	Pid             uint32
	CreatedAt       time.Time
	StartedAt       time.Time
	FinishedAt      time.Time
	ExitCode        int
	// Reason is Completed, Error, OOMKilled or StartError for an exited container.
	Reason, Message string
	LogPath         string
	Labels          map[string]string
}

// ContainerFilter selects containers; empty fields match all.
type ContainerFilter struct {
	SandboxID string
	Labels    map[string]string
}

// CreateContainer creates a container in a sandbox from an image already
// present; StartContainer runs it.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg ContainerConfig) (string, error) {
	ctx = r.ctx(ctx)
	sb, err := r.GetSandbox(ctx, sandboxID)
	if err != nil {
		return "", fmt.Errorf("create container %q: %w", cfg.Name, err)
	}
	img, err := r.GetImage(ctx, cfg.Image)
	if err != nil {
		return "", fmt.Errorf("create container %q: %w", cfg.Name, err)
	}
	id := newID()
	cgroupsPath := filepath.Join(sb.CgroupParent, id)
	specOpts, err := r.specOpts(id, &cfg, sb, img, cgroupsPath)
	if err != nil {
		return "", fmt.Errorf("create container %q: %w", cfg.Name, err)
	}
	logPath := cfg.LogPath
	if logPath == "" {
		logPath = filepath.Join(cfg.Name, strconv.Itoa(cfg.Attempt)+".log")
	}
	if !filepath.IsAbs(logPath) {
		logPath = filepath.Join(sb.LogDirectory, logPath)
	}
	labels := map[string]string{
		labelKind:         kindContaner,
		labelSandboxID:    sb.ID,
		labelPodUID:       sb.UID,
		labelPodName:      sb.Name,
		labelPodNamespace: sb.Namespace,
		labelName:         cfg.Name,
		labelAttempt:      strconv.Itoa(cfg.Attempt),
		labelImage:        cfg.Image,
		labelImageRef:     img.ID,
		labelLogPath:      logPath,
		labelCgroupPath:   cgroupsPath,
		labelStopSignal:   img.Config.StopSignal,
		labelTTY:          strconv.FormatBool(cfg.TTY),
		labelStdin:        strconv.FormatBool(cfg.Stdin),
		labelStdinOnce:    strconv.FormatBool(cfg.StdinOnce),
	}
	for k, v := range cfg.Labels {
		labels[userLabelPrefix+k] = v
	}
	c, err := r.client.NewContainer(ctx, id,
		containerd.WithImageName(imageRecordName(img)),
		r.withSnapshot(id, img),
		containerd.WithNewSpec(specOpts...),
		containerd.WithContainerLabels(labels),
		r.withRuntime())
	if err != nil {
		return "", fmt.Errorf("create container %q: %w", cfg.Name, err)
	}
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata) // as created
	if err != nil {
		return "", fmt.Errorf("create container %q: %w", cfg.Name, err)
	}
	r.putRecord(id, info.Labels, info.CreatedAt)
	return id, nil
}

// withRuntime names the runc shim with a RuncRoot in its options: the shim
// passes the root to each runc it runs for the container, and keeps it in
// the bundle for its cleanup after a crash.
func (r *Runtime) withRuntime() containerd.NewContainerOpts {
	if r.cfg.RuncRoot == "" {
		// The client's default runtime, as the namespace may name it.
		return func(context.Context, *containerd.Client, *containers.Container) error { return nil }
	}
	return containerd.WithRuntime(plugin.RuntimeRuncV2, &runcoptions.Options{Root: r.cfg.RuncRoot})
}

// withSnapshot prepares the container's writable snapshot over the image's
// unpacked layers, as containerd.WithNewSnapshot does, from the chain ID
// already known instead of reading the manifest and config again.
func (r *Runtime) withSnapshot(id string, img *Image) containerd.NewContainerOpts {
	return func(ctx context.Context, client *containerd.Client, c *containers.Container) error {
		if img.chainID == "" {
			return fmt.Errorf("image %s: no layers known", img.ID)
		}
		if _, err := client.SnapshotService(r.cfg.Snapshotter).Prepare(ctx, id, img.chainID); err != nil {
			return fmt.Errorf("prepare snapshot: %w", err)
		}
		c.Snapshotter = r.cfg.Snapshotter
		c.SnapshotKey = id
		return nil
	}
}

// imageRecordName is a containerd image name of the image.
func imageRecordName(img *Image) string {
	if len(img.RepoTags) > 0 {
		return img.RepoTags[0]
	}
	if len(img.RepoDigests) > 0 {
		return img.RepoDigests[0]
	}
	return img.ID
}

// StartContainer starts a created container: its task, with its output
// copied to the log. A failure leaves the container exited with reason
// StartError and the runtime's message, as CRI runtimes do.
func (r *Runtime) StartContainer(ctx context.Context, id string) (retErr error) {
	ctx = r.ctx(ctx)
	rec, err := r.record(ctx, id, kindContaner)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	labels := rec.labels
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if labels[labelStartedAt] != "" || labels[labelExitCode] != "" {
		return fmt.Errorf("start container %s: already started: %w", id, errdefs.ErrFailedPrecondition)
	}
	lw, err := r.logWriter(labels[labelLogPath])
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	cio, err := newContainerIO(r.fifoDir(id), id, labels[labelTTY] == "true", labels[labelStdin] == "true", lw)
	if err != nil {
		lw.Close()
		return fmt.Errorf("start container %s: %w", id, err)
	}
	defer func() {
		if retErr != nil {
			cio.Close()
			removeFIFOs(r.fifoDir(id))
			// Record the failure so that the container reads as exited.
			_ = r.setLabels(ctx, c, map[string]string{
				labelFinishedAt: formatTime(time.Now()),
				labelExitCode:   "128",
				labelReason:     ReasonStartError,
				labelMessage:    retErr.Error(),
			})
		}
	}()
	if err := r.ensureSandboxPID(ctx, labels[labelSandboxID]); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	task, err := c.NewTask(ctx, func(string) (cioIO, error) { return cio, nil })
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	// Wait before Start so that even an instant exit is seen.
	exitCh, err := task.Wait(r.bgCtx)
	if err != nil {
		task.Delete(ctx, containerd.WithProcessKill)
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if err := task.Start(ctx); err != nil {
		task.Delete(ctx, containerd.WithProcessKill)
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if err := r.setLabels(ctx, c, map[string]string{labelStartedAt: formatTime(time.Now())}); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	r.track(id, cio, exitCh)
	r.publish(Event{Type: EventStarted, ContainerID: id, SandboxID: labels[labelSandboxID]})
	return nil
}

// cioIO is cio.IO, named so that the closure above reads plainly.
type cioIO = cio.IO

// logWriter opens a container's log file with the runtime's rotation settings.
func (r *Runtime) logWriter(path string) (*logs.Writer, error) {
	return logs.NewWriter(path, logs.WriterOptions{MaxSize: r.cfg.LogMaxSize, MaxFiles: r.cfg.LogMaxFiles})
}

// track remembers a running container's IO and handles its exit.
func (r *Runtime) track(id string, cio *containerIO, exitCh <-chan containerd.ExitStatus) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cio.detach()
		return
	}
	r.ios[id] = cio
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		for {
			var es containerd.ExitStatus
			select {
			case es = <-exitCh:
			case <-r.bgCtx.Done():
				return
			}
			if es.Error() == nil {
				break
			}
			// containerd went away (restarting): wait on the task again.
			select {
			case <-r.bgCtx.Done():
				return
			case <-time.After(time.Second):
			}
			ch, err := r.waitTask(id)
			if errdefs.IsNotFound(err) {
				return
			}
			if err == nil {
				exitCh = ch
			}
		}
		// Not cancelled by Close: an exit being recorded is finished first.
		if err := r.handleExit(r.ctx(context.Background()), id); err != nil {
			r.cfg.Logf("container %s exited: %v", id, err)
		}
	}()
}

func (r *Runtime) waitTask(id string) (<-chan containerd.ExitStatus, error) {
	c, err := r.client.LoadContainer(r.bgCtx, id)
	if err != nil {
		return nil, err
	}
	task, err := c.Task(r.bgCtx, nil)
	if err != nil {
		return nil, err
	}
	return task.Wait(r.bgCtx)
}

// StopContainer stops a container: its stop signal (the image's STOPSIGNAL,
// else SIGTERM), then SIGKILL after timeout. Stopping a stopped container
// succeeds.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	ctx = r.ctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if st.Status != containerd.Stopped {
		exitCh, err := task.Wait(ctx)
		if err != nil {
			return fmt.Errorf("stop container %s: %w", id, err)
		}
		if timeout > 0 {
			sig := syscall.SIGTERM
			rec, _ := r.record(ctx, id, kindContaner)
			if s := rec.labels[labelStopSignal]; s != "" {
				if parsed, err := containerd.ParseSignal(s); err == nil {
					sig = parsed
				}
			}
			if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("stop container %s: signal %v: %w", id, sig, err)
			}
			select {
			case <-exitCh:
			case <-time.After(timeout):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stop container %s: SIGKILL: %w", id, err)
		}
		select {
		case <-exitCh:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.handleExit(ctx, id)
}

// RemoveContainer removes a container, killing it if it still runs. Its
// log files stay: they go with the pod's log directory.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.ctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		r.removeRecord(id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := r.StopContainer(ctx, id, 0); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		task.Delete(ctx, containerd.WithProcessKill)
	}
	r.untrack(id)
	removeFIFOs(r.fifoDir(id))
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	r.removeRecord(id)
	return nil
}

func (r *Runtime) untrack(id string) *containerIO {
	r.mu.Lock()
	defer r.mu.Unlock()
	cio := r.ios[id]
	delete(r.ios, id)
	return cio
}

// tracked is container id's output copier, nil when none runs.
func (r *Runtime) tracked(id string) *containerIO {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ios[id]
}

// outputPending reports whether container id's output is still being copied
// to its log.
func (r *Runtime) outputPending(id string) bool {
	cio := r.tracked(id)
	if cio == nil {
		return false
	}
	select {
	case <-cio.done:
		return false
	default:
		return true
	}
}

// ContainerStatus returns a container's status from containerd.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (*ContainerStatus, error) {
	ctx = r.ctx(ctx)
	rec, err := r.record(ctx, id, kindContaner)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	var t *taskState
	if rec.labels[labelExitCode] == "" {
		if t, err = r.task(ctx, id); err != nil {
			return nil, fmt.Errorf("container %s: %w", id, err)
		}
		if t == nil {
			// The exit may have been recorded (then the task deleted)
			// since the labels were read: read them again.
			if fresh, err := r.record(ctx, id, kindContaner); err == nil {
				rec = fresh
			}
		}
	}
	return r.status(id, rec.labels, rec.created, t), nil
}

// task reads the state of container id's task, nil when it has none, in
// one call (to containerd, and from it to the container's shim).
func (r *Runtime) task(ctx context.Context, id string) (*taskState, error) {
	resp, err := r.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err != nil {
		if errdefs.IsNotFound(errdefs.FromGRPC(err)) {
			return nil, nil
		}
		return nil, errdefs.FromGRPC(err)
	}
	p := resp.Process
	return &taskState{
		status:   containerd.ProcessStatus(strings.ToLower(p.Status.String())),
		pid:      p.Pid,
		exitCode: p.ExitStatus,
		exitedAt: p.ExitedAt.AsTime(),
	}, nil
}

// taskState is what the status needs of a container's task.
type taskState struct {
	status   containerd.ProcessStatus
	pid      uint32
	exitCode uint32
	exitedAt time.Time
}

// status combines a container's labels and its task (nil: none) into its status.
func (r *Runtime) status(id string, labels map[string]string, created time.Time, t *taskState) *ContainerStatus {
	s := &ContainerStatus{
		ID:        id,
		SandboxID: labels[labelSandboxID],
		Name:      labels[labelName],
		Attempt:   parseInt(labels[labelAttempt]),
		Image:     labels[labelImage],
		ImageRef:  labels[labelImageRef],
		CreatedAt: created,
		StartedAt: parseTime(labels[labelStartedAt]),
		LogPath:   labels[labelLogPath],
		Labels:    userLabels(labels),
		State:     StateCreated,
	}
	if code := labels[labelExitCode]; code != "" {
		s.State = StateExited
		s.ExitCode = parseInt(code)
		s.FinishedAt = parseTime(labels[labelFinishedAt])
		s.Reason = labels[labelReason]
		s.Message = labels[labelMessage]
		return s
	}
	if t == nil {
		if !s.StartedAt.IsZero() {
			// Started, never seen to exit, and its task is gone.
			s.State = StateUnknown
		}
		return s
	}
	s.Pid = t.pid
	switch t.status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		s.State = StateRunning
	case containerd.Created:
		s.State = StateCreated
	case containerd.Stopped:
		if r.outputPending(id) && time.Since(t.exitedAt) < exitOutputWait {
			// Its last output is still on its way to the log: running until
			// that ends, as CRI reports an exit only once the output has.
			s.State = StateRunning
			break
		}
		// Exited; the exit handler has not recorded it yet.
		s.State = StateExited
		s.ExitCode = int(t.exitCode)
		s.FinishedAt = t.exitedAt
		s.Reason = r.exitReason(id, labels, s.ExitCode)
	default:
		s.State = StateUnknown
	}
	return s
}

// ListContainers returns the statuses of the containers the filter selects,
// with two calls to containerd whatever their number (the kubelet relists
// every second).
func (r *Runtime) ListContainers(ctx context.Context, f ContainerFilter) ([]*ContainerStatus, error) {
	ctx = r.ctx(ctx)
	match := prefixed(f.Labels)
	if f.SandboxID != "" {
		match[labelSandboxID] = f.SandboxID
	}
	recs := r.listRecords(kindContaner, match)
	// Each listed container's task is read on its own: containerd's task
	// list asks every task's shim for its state, the whole node's for the
	// containers of one pod.
	out := make([]*ContainerStatus, 0, len(recs))
	for _, rec := range recs {
		var t *taskState
		var err error
		if rec.labels[labelExitCode] == "" {
			if t, err = r.task(ctx, rec.id); err != nil {
				return nil, fmt.Errorf("list containers: %w", err)
			}
		}
		if t == nil && rec.labels[labelExitCode] == "" && rec.labels[labelStartedAt] != "" {
			// Started, and neither running nor exited as far as the
			// labels and the task say: it may have exited (exit recorded,
			// task deleted) between the two. Look again, labels after the
			// task.
			if st, err := r.ContainerStatus(ctx, rec.id); err == nil {
				out = append(out, st)
				continue
			}
		}
		out = append(out, r.status(rec.id, rec.labels, rec.created, t))
	}
	return out, nil
}

// errNotRunning is returned for exec and attach to a container that does not run.
var errNotRunning = errors.New("container is not running")

// UpdateContainerResources changes a running container's CPU shares, CFS
// quota and memory limit in place (runc update on its cgroup), as CRI's
// UpdateContainerResources, and then sets the caller's labels on it. A
// zero field is left as it is (Kubernetes does not remove a limit).
func (r *Runtime) UpdateContainerResources(ctx context.Context, id string, res Resources, labels map[string]string) error {
	ctx = r.ctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("update container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return fmt.Errorf("update container %s: %w", id, err)
	}
	lr := &specs.LinuxResources{}
	res.applyTo(lr)
	if err := task.Update(ctx, containerd.WithResources(lr)); err != nil {
		return fmt.Errorf("update container %s: %w", id, err)
	}
	if len(labels) == 0 {
		return nil
	}
	user := make(map[string]string, len(labels))
	for k, v := range labels {
		user[userLabelPrefix+k] = v
	}
	if err := r.setLabels(ctx, c, user); err != nil {
		return fmt.Errorf("update container %s: %w", id, err)
	}
	return nil
}
