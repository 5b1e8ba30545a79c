// Package runtime is the kubelet's container runtime: pod sandboxes,
// containers, images, exec/attach and CRI-format logs, on containerd through
// its Go client. It plays the part of containerd's CRI plugin, in process.
//
// A sandbox has no pause container: it is a record (a containerd container
// without a task, labelled with the pod's identity) plus a directory with the
// pod's /etc/hostname, /etc/hosts and /etc/resolv.conf. Its containers join
// the network namespace the network plugin made (by path) and get the pod's
// hostname in their own UTS namespace.
//
// Everything needed after an agent restart is kept in containerd (labels on
// containers, tasks that outlive the agent) and in the log files, so a new
// Runtime on the same containerd re-adopts running containers: New
// re-attaches the log copiers to the tasks' FIFOs.
//
//	rt, _ := runtime.New(ctx, runtime.Config{Address: sock})
//	sb, _ := rt.CreateSandbox(ctx, runtime.SandboxConfig{UID: uid, Namespace: "default", Name: "web", NetNSPath: netns})
//	id, _ := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Name: "app", Image: "skiff.test/agnhost-lite:1"})
//	_ = rt.StartContainer(ctx, id)
package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/registries"
)

// Defaults for Config.
const (
	DefaultNamespace   = "k8s.io"
	DefaultSnapshotter = "overlayfs"
	DefaultLogRoot     = "/var/log/pods"
	DefaultRootDir     = "/run/skiff/runtime"
	// DefaultCgroupRoot is the cgroup under which pods get their cgroups
	// (/skiff/pod<uid>/<container id>), beside the host's own.
	DefaultCgroupRoot = "/skiff"
)

// Config says which containerd to use and where the runtime keeps its files.
type Config struct {
	// Address is containerd's socket. Ignored when Client is set.
	Address string
	// Client is an existing client to use (and not close).
	Client *containerd.Client
	// Namespace is the containerd namespace for pods; DefaultNamespace when empty.
	Namespace string
	// Snapshotter unpacks images and makes rootfs; DefaultSnapshotter when empty.
	Snapshotter string
	// LogRoot holds the pods' log directories (<ns>_<name>_<uid>/<container>/<attempt>.log).
	LogRoot string
	// RootDir holds the sandboxes' files and the containers' stdio FIFOs; it
	// must survive an agent restart (not a reboot: /run is fine).
	RootDir string
	// CgroupRoot is the parent of the pods' cgroups when a sandbox names none.
	CgroupRoot string
	// RuncRoot is where runc keeps the state of the pods' containers, given
	// to the runc shim with each new container; the shim's default
	// (/run/containerd/runc) when empty, as with a containerd of the host.
	RuncRoot string
	// LogMaxSize and LogMaxFiles bound each container's log (the kubelet's
	// containerLogMaxSize/containerLogMaxFiles); 10 MiB and 5 when zero.
	LogMaxSize  int64
	LogMaxFiles int
	// Registries are the node's registry mirrors and credentials
	// (registries.yaml); nil pulls from each registry's own endpoint.
	Registries *registries.Registries
	// Logf reports background problems (log copying, exit handling); dropped when nil.
	Logf func(format string, args ...any)
}

// Runtime runs pod sandboxes and containers on containerd.
type Runtime struct {
	*ImageService
	client     *containerd.Client
	ownClient  bool
	cfg        Config
	cancel     context.CancelFunc
	bgCtx      context.Context
	wg         sync.WaitGroup
	mu         sync.Mutex
	ios        map[string]*containerIO // running containers' stdio, by container id
	oomed      map[string]bool         // containers containerd reported an OOM kill for
	subsMu     sync.Mutex
	subs       map[chan Event]struct{}
	closed     bool
	exitMu     sync.Mutex
	exitActive map[string]bool // exit handling in progress, by container id
	recs       records         // the runtime's containers in containerd, mirrored
	pidMu      sync.Mutex      // serialises replacing dead PID namespace holders
}

// New connects to containerd, watches its events, and re-adopts the
// containers it already runs for this namespace.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = DefaultSnapshotter
	}
	if cfg.LogRoot == "" {
		cfg.LogRoot = DefaultLogRoot
	}
	if cfg.RootDir == "" {
		cfg.RootDir = DefaultRootDir
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = DefaultCgroupRoot
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	for _, d := range []string{cfg.RootDir, cfg.LogRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
	}
	r := &Runtime{
		cfg:        cfg,
		client:     cfg.Client,
		ios:        map[string]*containerIO{},
		oomed:      map[string]bool{},
		subs:       map[chan Event]struct{}{},
		exitActive: map[string]bool{},
	}
	if r.client == nil {
		if cfg.Address == "" {
			return nil, errors.New("runtime: containerd address is required")
		}
		c, err := containerd.New(cfg.Address, containerd.WithTimeout(10*time.Second), containerd.WithDefaultNamespace(cfg.Namespace))
		if err != nil {
			return nil, fmt.Errorf("runtime: connect to containerd at %s: %w", cfg.Address, err)
		}
		r.client, r.ownClient = c, true
	}
	r.ImageService = NewImageService(r.client, cfg.Namespace, cfg.Snapshotter, cfg.Registries)
	r.ImageService.userFilesDir = filepath.Join(cfg.RootDir, "image-users")
	r.bgCtx, r.cancel = context.WithCancel(namespaces.WithNamespace(context.Background(), cfg.Namespace))
	// Subscribe before recovering so that no exit between the two is missed.
	ready := make(chan struct{})
	r.wg.Add(1)
	go r.watchEvents(ready)
	<-ready
	if err := r.loadRecords(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("runtime: %w", err)
	}
	if err := r.recover(r.ctx(ctx)); err != nil {
		r.Close()
		return nil, fmt.Errorf("runtime: re-adopt containers: %w", err)
	}
	r.removeOrphanSandboxDirs()
	return r, nil
}

// removeOrphanSandboxDirs removes the sandbox directories with no sandbox on
// record, with their IPC namespace and /dev/shm pins and their PID namespace
// holder: what an agent that stopped in CreateSandbox, between making the
// directory and recording the sandbox, left. It runs before the runtime
// creates any sandbox; one runtime at a time owns RootDir.
func (r *Runtime) removeOrphanSandboxDirs() {
	entries, err := os.ReadDir(filepath.Join(r.cfg.RootDir, "sandboxes"))
	if err != nil {
		return
	}
	r.recs.mu.RLock()
	var orphans []string
	for _, e := range entries {
		if _, ok := r.recs.m[e.Name()]; !ok && e.IsDir() {
			orphans = append(orphans, e.Name())
		}
	}
	r.recs.mu.RUnlock()
	for _, id := range orphans {
		if err := removeSandboxDir(r.sandboxDir(id)); err != nil {
			r.cfg.Logf("remove the directory of unrecorded sandbox %s: %v", id, err)
		} else {
			r.cfg.Logf("removed the directory of unrecorded sandbox %s", id)
		}
	}
}

// Client is the containerd client, for the parts of the agent that need more.
func (r *Runtime) Client() *containerd.Client { return r.client }

// ctx puts the runtime's containerd namespace on a caller's context.
func (r *Runtime) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// Close stops the runtime's watchers and log copiers without touching the
// containers: they keep running, and a later Runtime re-adopts them.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	ios := r.ios
	r.ios = map[string]*containerIO{}
	r.mu.Unlock()
	r.cancel()
	for _, cio := range ios {
		cio.detach()
	}
	r.wg.Wait()
	r.subsMu.Lock()
	for ch := range r.subs {
		close(ch)
		delete(r.subs, ch)
	}
	r.subsMu.Unlock()
	if r.ownClient {
		return r.client.Close()
	}
	return nil
}

func (r *Runtime) fifoDir(id string) string    { return filepath.Join(r.cfg.RootDir, "fifo", id) }
func (r *Runtime) sandboxDir(id string) string { return filepath.Join(r.cfg.RootDir, "sandboxes", id) }
