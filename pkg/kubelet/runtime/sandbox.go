package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// SandboxConfig describes a pod's sandbox.
type SandboxConfig struct {
	UID, Namespace, Name string
	// Hostname is the containers' hostname; the pod name when empty.
	Hostname string
	// NetNSPath is the pod's network namespace, made by the network plugin.
	NetNSPath string
	// HostNetwork runs the pod in the host's network and UTS namespaces.
	HostNetwork bool
	// HostIPC runs the pod in the host's IPC namespace; otherwise its
	// containers share one of their own.
	HostIPC bool
	// HostPID runs the pod's containers in the host's PID namespace.
	HostPID bool
	// SharePID gives the pod's containers one PID namespace, held by a
	// process of the sandbox as PID 1 (shareProcessNamespace); otherwise
	// each has its own.
	SharePID bool
	// DNS is written to the pod's /etc/resolv.conf; nil copies the host's.
	DNS *DNSConfig
	// Hosts is the pod's /etc/hosts (the kubelet's is network.HostsFile's).
	// When empty, the file names localhost and, for each of PodIPs, the hostname.
	Hosts  []byte
	PodIPs []string
	// LogDirectory holds the containers' logs; <LogRoot>/<ns>_<name>_<uid> when empty.
	LogDirectory string
	// CgroupParent is the pod's cgroup (QoS level included, e.g.
	// /skiff/kubepods/burstable/pod<uid>, which the kubelet creates with
	// its limits); <CgroupRoot>/pod<uid> when empty. Recorded on the
	// sandbox: a re-adopted pod keeps the path it was created with.
	CgroupParent string
	// Labels are the caller's, returned by ListSandboxes.
	Labels map[string]string
}

// DNSConfig is the pod's resolver configuration.
type DNSConfig struct {
	Servers, Searches, Options []string
}

// Sandbox is a pod's sandbox as recorded in containerd.
type Sandbox struct {
	ID string
	SandboxConfig
	CreatedAt time.Time
}

// Files every container of a sandbox mounts from the sandbox directory.
const (
	hostnameFile   = "hostname"
	hostsFile      = "hosts"
	resolvConfFile = "resolv.conf"
)

// CreateSandbox records a sandbox and writes its /etc files.
func (r *Runtime) CreateSandbox(ctx context.Context, cfg SandboxConfig) (*Sandbox, error) {
	ctx = r.ctx(ctx)
	if cfg.UID == "" || cfg.Name == "" || cfg.Namespace == "" {
		return nil, fmt.Errorf("create sandbox: pod uid, name and namespace are required")
	}
	if cfg.HostPID && cfg.SharePID {
		return nil, fmt.Errorf("create sandbox: a pod cannot both share the host's PID namespace and one of its own")
	}
	if cfg.Hostname == "" {
		cfg.Hostname = cfg.Name
		if cfg.HostNetwork {
			cfg.Hostname, _ = os.Hostname()
		}
	}
	if cfg.LogDirectory == "" {
		cfg.LogDirectory = filepath.Join(r.cfg.LogRoot, fmt.Sprintf("%s_%s_%s", cfg.Namespace, cfg.Name, cfg.UID))
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = filepath.Join(r.cfg.CgroupRoot, "pod"+cfg.UID)
	}
	id := newID()
	dir := r.sandboxDir(id)
	if err := writeSandboxFiles(dir, &cfg); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create sandbox for pod %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create sandbox for pod %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	labels := map[string]string{
		labelKind:         kindSandbox,
		labelPodUID:       cfg.UID,
		labelPodName:      cfg.Name,
		labelPodNamespace: cfg.Namespace,
		labelNetNS:        cfg.NetNSPath,
		labelHostname:     cfg.Hostname,
		labelLogDir:       cfg.LogDirectory,
		labelCgroupParent: cfg.CgroupParent,
	}
	if cfg.HostNetwork {
		labels[labelHostNetwork] = "true"
	}
	if cfg.HostIPC {
		labels[labelHostIPC] = "true"
	} else if err := pinIPC(dir); err != nil {
		removeSandboxDir(dir)
		return nil, fmt.Errorf("create sandbox for pod %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	if cfg.HostPID {
		labels[labelHostPID] = "true"
	}
	if cfg.SharePID {
		labels[labelSharePID] = "true"
		if err := startPIDHolder(dir, cfg.CgroupParent, id); err != nil {
			removeSandboxDir(dir)
			return nil, fmt.Errorf("create sandbox for pod %s/%s: %w", cfg.Namespace, cfg.Name, err)
		}
	}
	for k, v := range cfg.Labels {
		labels[userLabelPrefix+k] = v
	}
	// A record only: it never gets a task, so the spec is never used.
	c, err := r.client.NewContainer(ctx, id,
		containerd.WithContainerLabels(labels),
		containerd.WithSpec(&specs.Spec{Version: specs.Version}))
	if err != nil {
		removeSandboxDir(dir)
		return nil, fmt.Errorf("create sandbox for pod %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata) // as created
	if err != nil {
		return nil, err
	}
	r.putRecord(id, info.Labels, info.CreatedAt)
	return sandboxFromLabels(id, info.Labels, info.CreatedAt), nil
}

// removeSandboxDir ends the sandbox's PID namespace holder, unpins its IPC
// namespace and /dev/shm, and removes its directory.
func removeSandboxDir(dir string) error {
	if err := stopPIDHolder(dir); err != nil {
		return err
	}
	if err := unpinIPC(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func writeSandboxFiles(dir string, cfg *SandboxConfig) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	hosts := cfg.Hosts
	if len(hosts) == 0 {
		var b strings.Builder
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
		for _, ip := range cfg.PodIPs {
			fmt.Fprintf(&b, "%s\t%s\n", ip, cfg.Hostname)
		}
		hosts = []byte(b.String())
	}
	var resolv []byte
	if cfg.DNS != nil {
		var b strings.Builder
		if len(cfg.DNS.Searches) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(cfg.DNS.Searches, " "))
		}
		for _, s := range cfg.DNS.Servers {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
		if len(cfg.DNS.Options) > 0 {
			fmt.Fprintf(&b, "options %s\n", strings.Join(cfg.DNS.Options, " "))
		}
		resolv = []byte(b.String())
	} else {
		resolv, _ = os.ReadFile("/etc/resolv.conf")
	}
	for name, data := range map[string][]byte{
		hostnameFile:   []byte(cfg.Hostname + "\n"),
		hostsFile:      hosts,
		resolvConfFile: resolv,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func sandboxFromLabels(id string, labels map[string]string, created time.Time) *Sandbox {
	return &Sandbox{
		ID: id,
		SandboxConfig: SandboxConfig{
			UID:          labels[labelPodUID],
			Name:         labels[labelPodName],
			Namespace:    labels[labelPodNamespace],
			Hostname:     labels[labelHostname],
			NetNSPath:    labels[labelNetNS],
			HostNetwork:  labels[labelHostNetwork] == "true",
			HostIPC:      labels[labelHostIPC] == "true",
			HostPID:      labels[labelHostPID] == "true",
			SharePID:     labels[labelSharePID] == "true",
			LogDirectory: labels[labelLogDir],
			CgroupParent: labels[labelCgroupParent],
			Labels:       userLabels(labels),
		},
		CreatedAt: created,
	}
}

// GetSandbox returns a sandbox by id.
func (r *Runtime) GetSandbox(ctx context.Context, id string) (*Sandbox, error) {
	rec, err := r.record(ctx, id, kindSandbox)
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", id, err)
	}
	return sandboxFromLabels(id, rec.labels, rec.created), nil
}

// ListSandboxes returns the sandboxes whose labels include all of match.
func (r *Runtime) ListSandboxes(ctx context.Context, match map[string]string) ([]*Sandbox, error) {
	var out []*Sandbox
	for _, rec := range r.listRecords(kindSandbox, prefixed(match)) {
		out = append(out, sandboxFromLabels(rec.id, rec.labels, rec.created))
	}
	return out, nil
}

// StopSandbox stops every container of the sandbox (each with timeout), then
// its PID namespace holder if it has one (a container started again in the
// sandbox gets a new one).
func (r *Runtime) StopSandbox(ctx context.Context, id string, timeout time.Duration) error {
	cs, err := r.ListContainers(ctx, ContainerFilter{SandboxID: id})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := r.StopContainer(ctx, c.ID, timeout); err != nil {
			return fmt.Errorf("stop sandbox %s: %w", id, err)
		}
	}
	if err := r.StopPIDHolder(id); err != nil {
		return fmt.Errorf("stop sandbox %s: %w", id, err)
	}
	return nil
}

// RemoveSandbox removes the sandbox's containers (killing any still running),
// its files and its record. Removing a sandbox that is gone succeeds.
func (r *Runtime) RemoveSandbox(ctx context.Context, id string) error {
	sb, err := r.GetSandbox(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	cs, err := r.ListContainers(ctx, ContainerFilter{SandboxID: id})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := r.RemoveContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("remove sandbox %s: %w", id, err)
		}
	}
	if err := removeSandboxDir(r.sandboxDir(id)); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", id, err)
	}
	removeCgroup(sb.CgroupParent)
	if err := r.client.ContainerService().Delete(r.ctx(ctx), id); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove sandbox %s: %w", id, err)
	}
	r.removeRecord(id)
	return nil
}

// prefixed returns the caller's labels as stored.
func prefixed(match map[string]string) map[string]string {
	out := make(map[string]string, len(match))
	for k, v := range match {
		out[userLabelPrefix+k] = v
	}
	return out
}
