package containerd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultStateDir is where the agent's containerd keeps its runtime state and its socket. It is
// not /run/containerd so that a containerd of the host can run beside ours.
const DefaultStateDir = "/run/skiff/containerd"

// Config says how to run the supervised containerd.
type Config struct {
	// Binary is the containerd executable; "containerd" from PATH when empty.
	Binary string
	// RootDir holds containerd's persistent data (content, snapshots, metadata):
	// <data-dir>/agent/containerd. Required.
	RootDir string
	// StateDir holds containerd's runtime state, the generated config, its pid file and, by
	// default, its socket. DefaultStateDir when empty.
	StateDir string
	// Address is the socket containerd serves its API on; <StateDir>/containerd.sock when empty.
	Address string
	// Snapshotter is the snapshotter clients should use; "overlayfs" when empty.
	Snapshotter string
	// LogPath receives containerd's output; <RootDir>/containerd.log when empty.
	LogPath string
	// ExtraConfig is TOML appended to the generated config, for the sections other parts of
	// the agent own later (registry mirrors and credentials).
	ExtraConfig string
	// KeepRunning leaves containerd (and so the pods' shims) running when Stop is called, and
	// Start adopts a containerd left running before, as k3s does, so that pods survive a
	// restart of the agent. When false Stop terminates containerd.
	KeepRunning bool
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL; 10s when zero.
	StopGrace time.Duration
	// StartTimeout bounds how long one start waits for the socket to answer; 60s when zero.
	StartTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before a restart after containerd died;
	// 500ms and 30s when zero. The delay doubles on each quick death.
	MinBackoff, MaxBackoff time.Duration
	// OnRestart is called, from the supervising goroutine, each time a containerd started
	// again after dying serves, so that the kubelet can reconcile its pods with it.
	OnRestart func()
	// Logf reports supervision events (started, died, restarting); dropped when nil.
	Logf func(format string, args ...any)
}

func (c *Config) setDefaults() error {
	if c.RootDir == "" {
		return errors.New("containerd: RootDir is required")
	}
	if c.Binary == "" {
		c.Binary = "containerd"
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Address == "" {
		c.Address = filepath.Join(c.StateDir, "containerd.sock")
	}
	if c.Snapshotter == "" {
		c.Snapshotter = "overlayfs"
	}
	if c.LogPath == "" {
		c.LogPath = filepath.Join(c.RootDir, "containerd.log")
	}
	if c.StopGrace == 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	for _, p := range []*string{&c.RootDir, &c.StateDir, &c.Address, &c.LogPath} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	// A unix socket path is limited to 108 bytes; fail here rather than in containerd's log.
	if len(c.Address) >= 108 {
		return fmt.Errorf("containerd: socket path %q is too long for a unix socket", c.Address)
	}
	return nil
}

// ConfigPath is where the generated containerd config is written.
func (c *Config) configPath() string { return filepath.Join(c.StateDir, "config.toml") }

// pidPath records the pid of the running containerd, so that a restarted agent can adopt it.
func (c *Config) pidPath() string { return filepath.Join(c.StateDir, "containerd.pid") }

// render returns containerd's config (version 2 schema, which containerd 1.6 and 1.7 read).
func (c *Config) render() string {
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by skiff on every start of containerd; edits are lost.\n")
	fmt.Fprintf(&b, "version = 2\n")
	fmt.Fprintf(&b, "root = %s\n", q(c.RootDir))
	fmt.Fprintf(&b, "state = %s\n", q(c.StateDir))
	// The kubelet drives containerd through its own API, not CRI: the CRI plugin would only
	// cost memory and start a second CNI setup.
	fmt.Fprintf(&b, "disabled_plugins = [%s]\n", q("io.containerd.grpc.v1.cri"))
	// As upstream's containerd unit: the OOM killer should pick a pod before the runtime.
	fmt.Fprintf(&b, "oom_score = -999\n\n")
	fmt.Fprintf(&b, "[grpc]\n  address = %s\n\n", q(c.Address))
	fmt.Fprintf(&b, "[ttrpc]\n  address = %s\n\n", q(c.Address+".ttrpc"))
	// Keep everything containerd writes under its own root, not /opt/containerd.
	fmt.Fprintf(&b, "[plugins.%s]\n  path = %s\n\n", q("io.containerd.internal.v1.opt"), q(filepath.Join(c.RootDir, "opt")))
	if c.ExtraConfig != "" {
		b.WriteString(c.ExtraConfig)
		if !strings.HasSuffix(c.ExtraConfig, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// writeConfig creates the directories and writes the config file.
func (c *Config) writeConfig() error {
	for _, d := range []string{c.RootDir, c.StateDir, filepath.Dir(c.Address), filepath.Dir(c.LogPath)} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	tmp := c.configPath() + ".tmp"
	if err := os.WriteFile(tmp, []byte(c.render()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.configPath())
}
