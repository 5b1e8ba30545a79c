package containerd

import (
	"os"
	"strings"
	"testing"
)

func TestConfigDefaultsAndRender(t *testing.T) {
	c := Config{RootDir: "/var/lib/skiff/agent/containerd", ExtraConfig: "[plugins.x]\n  y = 1"}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.Address != "/run/skiff/containerd/containerd.sock" || c.StateDir != DefaultStateDir || c.Snapshotter != "overlayfs" {
		t.Errorf("defaults: %+v", c)
	}
	if c.LogPath != "/var/lib/skiff/agent/containerd/containerd.log" {
		t.Errorf("log path %s", c.LogPath)
	}
	got := c.render()
	for _, want := range []string{
		"version = 2\n",
		`root = "/var/lib/skiff/agent/containerd"`,
		`state = "/run/skiff/containerd"`,
		`disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
		"[grpc]\n  address = \"/run/skiff/containerd/containerd.sock\"",
		`[plugins."io.containerd.internal.v1.opt"]`,
		"[plugins.x]\n  y = 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	if err := (&Config{}).setDefaults(); err == nil {
		t.Error("no error without RootDir")
	}
	c := Config{RootDir: "/r", Address: "/" + strings.Repeat("x", 120) + ".sock"}
	if err := c.setDefaults(); err == nil {
		t.Error("no error for a socket path longer than a unix socket allows")
	}
}

func TestAliveAndOurs(t *testing.T) {
	if alive(1 << 30) {
		t.Error("a pid that cannot exist counts as alive")
	}
	// This test binary is alive but is not a containerd started with our config.
	if isOurContainerd(selfPid(), "/nonexistent/config.toml") {
		t.Error("the test process counts as our containerd")
	}
}

func selfPid() int { return os.Getpid() }
