package runtime

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/pkg/cap"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ContainerConfig describes a container of a sandbox, as the kubelet
// derives it from the pod's container spec.
type ContainerConfig struct {
	Name    string
	Attempt int
	// Image is a reference or image ID of an image already present.
	Image string
	// Command and Args follow Kubernetes' rules against the image's
	// ENTRYPOINT and CMD.
	Command, Args []string
	WorkingDir    string
	// Env is appended to the image's environment, overriding it by name.
	Env    []EnvVar
	Mounts []Mount
	// User is the process's identity; nil takes the image's USER.
	User       *User
	Privileged bool
	// Capabilities are added to and dropped from the default set ("NET_ADMIN",
	// "CAP_NET_ADMIN" and "ALL" all work).
	Capabilities   *Capabilities
	ReadOnlyRootfs bool
	// AllowPrivilegeEscalation false sets no_new_privs; nil allows, as Kubernetes does.
	AllowPrivilegeEscalation *bool
	Resources                Resources
	TTY, Stdin, StdinOnce    bool
	// LogPath is relative to the sandbox's log directory (or absolute);
	// <name>/<attempt>.log when empty.
	LogPath string
	// Labels are the caller's, returned by Status and matched by ListContainers.
	Labels map[string]string
	// Seccomp is the container's seccomp profile; nil runs it unconfined,
	// as Kubernetes does by default. A privileged container has none.
	Seccomp *Seccomp
	// Sysctls are the pod's namespaced sysctls, by dotted name. With no
	// sandbox container to hold them, every container of the pod sets
	// them in the namespaces it joins; runc refuses one of a namespace the
	// container shares with the host.
	Sysctls map[string]string
	// TargetPID, when set, is a process of the sandbox (a running
	// container's) whose PID namespace the container joins instead of
	// having its own, as an ephemeral container with a targetContainerName.
	// A sandbox with HostPID or SharePID ignores it: its containers are all
	// in one namespace already.
	TargetPID uint32
}

// Seccomp selects a seccomp profile: the file at LocalhostPath (OCI's
// LinuxSeccomp in JSON), or containerd's default profile when empty.
type Seccomp struct{ LocalhostPath string }

// EnvVar is one environment variable.
type EnvVar struct{ Name, Value string }

// MountPropagation is a bind mount's propagation.
type MountPropagation string

// Propagations, as Kubernetes' mountPropagation None/HostToContainer/Bidirectional.
const (
	PropagationPrivate MountPropagation = "rprivate"
	PropagationSlave   MountPropagation = "rslave"
	PropagationShared  MountPropagation = "rshared"
)

// Mount binds a host path into the container.
type Mount struct {
	HostPath, ContainerPath string
	ReadOnly                bool
	Propagation             MountPropagation
}

// User is runAsUser/runAsGroup/supplementalGroups, or a user name.
type User struct {
	UID                *int64
	GID                *int64
	Username           string
	SupplementalGroups []int64
}

// Capabilities to add to and drop from the default set.
type Capabilities struct{ Add, Drop []string }

// Resources are the container's cgroup limits.
type Resources struct {
	CPUShares   uint64
	CPUQuota    int64
	CPUPeriod   uint64
	MemoryLimit int64
	OOMScoreAdj int
}

// containerArgs applies Kubernetes' rules: a command replaces the image's
// ENTRYPOINT and drops its CMD; args alone replace CMD.
func containerArgs(cfg *ContainerConfig, entrypoint, cmd []string) []string {
	if len(cfg.Command) > 0 {
		return append(append([]string{}, cfg.Command...), cfg.Args...)
	}
	if len(cfg.Args) > 0 {
		return append(append([]string{}, entrypoint...), cfg.Args...)
	}
	return append(append([]string{}, entrypoint...), cmd...)
}

// specOpts builds the OCI spec of a container in a sandbox from its image.
func (r *Runtime) specOpts(id string, cfg *ContainerConfig, sb *Sandbox, img *Image, cgroupsPath string) ([]oci.SpecOpts, error) {
	args := containerArgs(cfg, img.Config.Entrypoint, img.Config.Cmd)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified")
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = img.Config.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	// HOSTNAME first, as CRI and docker set it: the image's and the
	// container's own variables may override it.
	var env []string
	if sb.Hostname != "" {
		env = append(env, "HOSTNAME="+sb.Hostname)
	}
	env = append(env, img.Config.Env...)
	for _, e := range cfg.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	opts := []oci.SpecOpts{
		// As CRI does to containerd's default spec: no tmpfs at /run (the
		// image's /run stays, with the directories images prepare there),
		// and no RLIMIT_NOFILE of 1024: the container inherits the
		// runtime's limits, as upstream's pods do.
		oci.WithoutRunMount,
		withoutRlimits,
		oci.WithDefaultPathEnv,
		oci.WithEnv(env),
		oci.WithProcessArgs(args...),
		oci.WithProcessCwd(cwd),
		oci.WithCgroup(cgroupsPath),
		withResources(cfg.Resources),
	}
	if cfg.TTY {
		opts = append(opts, oci.WithTTY)
	}
	if sb.HostNetwork {
		opts = append(opts,
			oci.WithHostNamespace(specs.NetworkNamespace),
			oci.WithHostNamespace(specs.UTSNamespace))
	} else {
		opts = append(opts, oci.WithHostname(sb.Hostname))
		if sb.NetNSPath != "" {
			opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNSPath}))
		}
		// Without a netns path the container gets a network namespace of its
		// own (loopback only), never the host's by accident.
	}
	shm := ""
	if sb.HostIPC {
		opts = append(opts, oci.WithHostNamespace(specs.IPCNamespace))
		shm = "/dev/shm"
	} else if dir := r.sandboxDir(sb.ID); hasPodIPC(dir) {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: filepath.Join(dir, ipcFile)}))
		shm = filepath.Join(dir, shmDir)
	}
	if shm != "" {
		// The pod's /dev/shm (or the caller's, see mounts) in place of the
		// container's own of the default spec.
		opts = append(opts, withoutMount("/dev/shm"))
	}
	switch {
	case sb.HostPID:
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	case sb.SharePID:
		// The pod's, which StartContainer makes sure a holder keeps alive.
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.PIDNamespace, Path: filepath.Join(r.sandboxDir(sb.ID), pidFile)}))
	case cfg.TargetPID != 0:
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.PIDNamespace, Path: fmt.Sprintf("/proc/%d/ns/pid", cfg.TargetPID)}))
	}
	opts = append(opts, oci.WithMounts(r.mounts(sb, cfg, shm)))
	if needsSharedRootfs(cfg.Mounts) != "" {
		opts = append(opts, withRootfsPropagation(needsSharedRootfs(cfg.Mounts)))
	}
	if cfg.ReadOnlyRootfs {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if uopts := userOpts(cfg.User, img.Config.User); readsImageUsers(cfg.User) {
		opts = append(opts, r.withImageUserFiles(img.chainID, uopts))
	} else {
		opts = append(opts, uopts...)
	}
	if cfg.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
	} else if cfg.Capabilities != nil {
		opts = append(opts, withCapabilities(cfg.Capabilities))
	}
	if cfg.AllowPrivilegeEscalation != nil && !*cfg.AllowPrivilegeEscalation {
		opts = append(opts, oci.WithNoNewPrivileges)
	} else {
		opts = append(opts, oci.WithNewPrivileges)
	}
	// After the capabilities: the default profile allows the syscalls
	// that the container's capabilities need.
	if sc := cfg.Seccomp; sc != nil && !cfg.Privileged {
		if sc.LocalhostPath != "" {
			opts = append(opts, seccomp.WithProfile(sc.LocalhostPath))
		} else {
			opts = append(opts, seccomp.WithDefaultProfile())
		}
	}
	if len(cfg.Sysctls) > 0 {
		opts = append(opts, withSysctls(cfg.Sysctls))
	}
	return opts, nil
}

func withSysctls(sysctls map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		maps.Copy(s.Linux.Sysctl, sysctls)
		return nil
	}
}

// mounts are the sandbox's /etc files and its /dev/shm at shm when not empty
// (each unless the caller mounts over it) followed by the caller's bind mounts.
func (r *Runtime) mounts(sb *Sandbox, cfg *ContainerConfig, shm string) []specs.Mount {
	taken := map[string]bool{}
	for _, m := range cfg.Mounts {
		taken[filepath.Clean(m.ContainerPath)] = true
	}
	var out []specs.Mount
	etc := []struct{ file, target string }{{hostsFile, "/etc/hosts"}, {resolvConfFile, "/etc/resolv.conf"}}
	if !sb.HostNetwork {
		etc = append(etc, struct{ file, target string }{hostnameFile, "/etc/hostname"})
	}
	for _, f := range etc {
		if taken[f.target] {
			continue
		}
		src := filepath.Join(r.sandboxDir(sb.ID), f.file)
		if sb.HostNetwork && f.file != hostsFile {
			src = f.target // the host's own resolv.conf
		}
		opts := []string{"rbind", "rprivate"}
		if cfg.ReadOnlyRootfs {
			opts = append(opts, "ro")
		}
		out = append(out, specs.Mount{Source: src, Destination: f.target, Type: "bind", Options: opts})
	}
	if shm != "" && !taken["/dev/shm"] {
		out = append(out, specs.Mount{Source: shm, Destination: "/dev/shm", Type: "bind", Options: []string{"rbind", "rprivate", "rw"}})
	}
	if !taken["/sys/fs/cgroup"] {
		// The container's own cgroups, read-only (writable when privileged),
		// as CRI and docker mount them: runtimes such as the JVM's read
		// their memory and CPU limits there.
		out = append(out, specs.Mount{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}})
	}
	for _, m := range cfg.Mounts {
		prop := m.Propagation
		if prop == "" {
			prop = PropagationPrivate
		}
		opts := []string{"rbind", string(prop)}
		if m.ReadOnly {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		out = append(out, specs.Mount{Source: m.HostPath, Destination: m.ContainerPath, Type: "bind", Options: opts})
	}
	return out
}

// withoutRlimits drops the rlimits of containerd's default spec.
func withoutRlimits(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process != nil {
		s.Process.Rlimits = nil
	}
	return nil
}

// withoutMount drops the spec's mounts at dest.
func withoutMount(dest string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return filepath.Clean(m.Destination) == dest })
		return nil
	}
}

// needsSharedRootfs returns the rootfs propagation that mounts with
// propagation need: a shared or slave mount inside a private rootfs would
// not propagate.
func needsSharedRootfs(mounts []Mount) string {
	prop := ""
	for _, m := range mounts {
		switch m.Propagation {
		case PropagationShared:
			return "rshared"
		case PropagationSlave:
			prop = "rslave"
		}
	}
	return prop
}

func withRootfsPropagation(p string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.RootfsPropagation = p
		return nil
	}
}

func userOpts(u *User, imageUser string) []oci.SpecOpts {
	var opts []oci.SpecOpts
	switch {
	case u != nil && u.UID != nil && u.GID != nil:
		opts = append(opts, oci.WithUIDGID(uint32(*u.UID), uint32(*u.GID)))
	case u != nil && u.UID != nil:
		// The group comes from the image's /etc/passwd, or 0.
		opts = append(opts, oci.WithUserID(uint32(*u.UID)))
	case u != nil && u.Username != "":
		opts = append(opts, oci.WithUsername(u.Username))
	case imageUser != "":
		opts = append(opts, oci.WithUser(imageUser))
	}
	if u != nil && u.GID != nil && u.UID == nil {
		opts = append(opts, withGID(uint32(*u.GID)))
	}
	// Groups of the user in the image's /etc/group, as docker and CRI do.
	if readsImageUsers(u) {
		opts = append(opts, withAdditionalGIDsOfUser())
	}
	if u != nil && len(u.SupplementalGroups) > 0 {
		opts = append(opts, withSupplementalGroups(u.SupplementalGroups))
	}
	return opts
}

// readsImageUsers reports whether userOpts read the image's /etc/passwd or
// /etc/group: unless both the user and the group are given.
func readsImageUsers(u *User) bool {
	return u == nil || u.UID == nil || u.GID == nil
}

func withAdditionalGIDsOfUser() oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		user := fmt.Sprint(s.Process.User.UID)
		return oci.WithAdditionalGIDs(user)(ctx, client, c, s)
	}
}

func withGID(gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.User.GID = gid
		return nil
	}
}

func withSupplementalGroups(groups []int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, g := range groups {
			s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, uint32(g))
		}
		return nil
	}
}

// withCapabilities adds and drops capabilities from the default set; "ALL"
// in drop empties it first and in add grants every capability the kernel knows.
func withCapabilities(c *Capabilities) oci.SpecOpts {
	norm := func(in []string) (list []string, all bool) {
		for _, n := range in {
			n = strings.ToUpper(n)
			if n == "ALL" {
				all = true
				continue
			}
			if !strings.HasPrefix(n, "CAP_") {
				n = "CAP_" + n
			}
			list = append(list, n)
		}
		return list, all
	}
	add, addAll := norm(c.Add)
	drop, dropAll := norm(c.Drop)
	return func(ctx context.Context, client oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if dropAll {
			if err := oci.WithCapabilities(nil)(ctx, client, ctr, s); err != nil {
				return err
			}
		}
		if addAll {
			known, err := cap.Current()
			if err != nil {
				return err
			}
			add = append(add, known...)
		}
		if err := oci.WithAddedCapabilities(add)(ctx, client, ctr, s); err != nil {
			return err
		}
		return oci.WithDroppedCapabilities(drop)(ctx, client, ctr, s)
	}
}

// withResources sets the container's CPU and memory limits and OOM score.
// applyTo sets res's CPU shares, CFS quota and period, and memory limit in
// lr; what res leaves zero, lr keeps.
func (res Resources) applyTo(lr *specs.LinuxResources) {
	if res.CPUShares > 0 || res.CPUQuota > 0 || res.CPUPeriod > 0 {
		lr.CPU = &specs.LinuxCPU{}
		if res.CPUShares > 0 {
			lr.CPU.Shares = &res.CPUShares
		}
		if res.CPUQuota > 0 {
			lr.CPU.Quota = &res.CPUQuota
		}
		if res.CPUPeriod > 0 {
			lr.CPU.Period = &res.CPUPeriod
		}
	}
	if res.MemoryLimit > 0 {
		lr.Memory = &specs.LinuxMemory{Limit: &res.MemoryLimit}
	}
}

func withResources(res Resources) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		res.applyTo(s.Linux.Resources)
		if res.OOMScoreAdj != 0 {
			adj := restrictOOMScoreAdj(res.OOMScoreAdj)
			s.Process.OOMScoreAdj = &adj
		}
		return nil
	}
}
