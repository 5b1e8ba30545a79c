package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// readBack loads a written tarball as the tag and lists its layer's files by type.
func readBack(t *testing.T, file, ref string) (*v1.ConfigFile, map[string]*tar.Header) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(file, &tag)
	if err != nil {
		t.Fatalf("%s has no image tagged %s: %v", file, ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
	}
	return cf, files
}

func TestAgnhostImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "agnhost-lite")
	if err := buildAgnhost(bin); err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(bin); err != nil {
		t.Errorf("agnhost-lite must be static: %v", err)
	}
	spec, err := agnhostSpec(bin)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "agnhost-lite.tar")
	if err := writeImage(file, AgnhostRef, spec); err != nil {
		t.Fatal(err)
	}
	cf, files := readBack(t, file, AgnhostRef)
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/agnhost-lite"}) || !slices.Equal(cf.Config.Cmd, []string{"serve-http", "--port", "80"}) {
		t.Errorf("entrypoint %q cmd %q", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	if !slices.Contains(cf.Config.Env, "PATH="+defaultPath) {
		t.Errorf("env %q lacks PATH", cf.Config.Env)
	}
	if h := files["agnhost-lite"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 || h.Size == 0 {
		t.Errorf("agnhost-lite in layer: %+v", h)
	}
	if h := files["tmp/"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("tmp/ in layer: %+v", h)
	}
	if files["etc/passwd"] == nil {
		t.Error("no etc/passwd in layer")
	}
	for _, d := range []string{"proc/", "sys/", "dev/", "run/"} {
		if h := files[d]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("%s in layer: %+v", d, h)
		}
	}
	if h := files["var/run"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/run" {
		t.Errorf("var/run in layer: %+v", h)
	}
}

func TestBusyboxImage(t *testing.T) {
	const bin = "/bin/busybox"
	if err := checkStatic(bin); err != nil {
		t.Skipf("no static busybox (scripts/install-deps.sh installs busybox-static): %v", err)
	}
	spec, err := busyboxSpec(bin)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "busybox.tar")
	if err := writeImage(file, BusyboxRef, spec); err != nil {
		t.Fatal(err)
	}
	cf, files := readBack(t, file, BusyboxRef)
	if cf.OS != "linux" || cf.Architecture != "amd64" || !slices.Equal(cf.Config.Cmd, []string{"sh"}) {
		t.Errorf("config: %s/%s cmd %q", cf.OS, cf.Architecture, cf.Config.Cmd)
	}
	if h := files["bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Errorf("bin/busybox in layer: %+v", h)
	}
	for _, applet := range []string{"bin/sh", "bin/ls", "bin/cat", "bin/echo", "bin/sleep", "usr/bin/wget", "usr/bin/nc"} {
		if h := files[applet]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
			t.Errorf("%s in layer: %+v", applet, h)
		}
	}
	if h := files["usr/bin/"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("parent directory usr/bin/ missing: %+v", h)
	}
}

func TestReproducible(t *testing.T) {
	spec := imageSpec{files: []entry{{name: "a/b", mode: 0o644, data: []byte("x")}}}
	digest := func() v1.Hash {
		img, err := image(spec)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if a, b := digest(), digest(); a != b {
		t.Errorf("two builds differ: %s, %s", a, b)
	}
}

func TestRunWritesBoth(t *testing.T) {
	if err := checkStatic("/bin/busybox"); err != nil {
		t.Skipf("no static busybox: %v", err)
	}
	out := t.TempDir()
	if err := run(out, "/bin/busybox"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"agnhost-lite.tar", "busybox.tar"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}
