package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The references tests use for the images.
const (
	AgnhostRef = "skiff.test/agnhost-lite:1"
	BusyboxRef = "skiff.test/busybox:1"
)

// epoch is the timestamp of every file and image, so that a rebuild gives the same digests.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// entry is one file of an image's single layer.
type entry struct {
	name     string // without leading slash
	mode     int64
	dir      bool
	linkname string // a symlink when set
	data     []byte
}

type imageSpec struct {
	files  []entry
	config v1.Config
}

// baseFiles are what programs in a container expect to find: root and nobody for user
// lookups (nobody also in group users, for the supplementary groups of an image's user), a world-writable /tmp, and the root directories of a distribution's base image
// (/proc, /sys, /dev and /run as mount points, /var/run a link to /run as on Debian). Without
// them runc creates each mount point in the container's writable layer at every start.
func baseFiles() []entry {
	return []entry{
		{name: "dev", dir: true, mode: 0o755},
		{name: "etc", dir: true, mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nusers:x:100:nobody\nnogroup:x:65534:\n")},
		{name: "proc", dir: true, mode: 0o555},
		{name: "root", dir: true, mode: 0o700},
		{name: "run", dir: true, mode: 0o755},
		{name: "sys", dir: true, mode: 0o555},
		{name: "tmp", dir: true, mode: 0o1777},
		{name: "var", dir: true, mode: 0o755},
		{name: "var/run", mode: 0o777, linkname: "/run"},
	}
}

// buildAgnhost compiles the multi-tool static for linux/amd64.
func buildAgnhost(out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "github.com/skiff-k8s/skiff/tests/images/agnhost-lite")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build agnhost-lite: %w", err)
	}
	return nil
}

// agnhostSpec: the entrypoint is the tool and the default command serves HTTP on port 80, so
// that `kubectl run --image=skiff.test/agnhost-lite:1 --port=80` gives a web server and
// `kubectl run ... -- exit 3` runs another subcommand.
func agnhostSpec(bin string) (imageSpec, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return imageSpec{}, err
	}
	files := append(baseFiles(), entry{name: "agnhost-lite", mode: 0o755, data: data})
	return imageSpec{files: files, config: v1.Config{
		Entrypoint:   []string{"/agnhost-lite"},
		Cmd:          []string{"serve-http", "--port", "80"},
		Env:          []string{"PATH=" + defaultPath},
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
	}}, nil
}

// busyboxSpec: Debian's busybox-static with a symlink per applet at the path busybox itself
// lists, and `sh` as the command, as the upstream busybox image.
func busyboxSpec(bin string) (imageSpec, error) {
	if err := checkStatic(bin); err != nil {
		return imageSpec{}, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return imageSpec{}, err
	}
	out, err := exec.Command(bin, "--list-full").Output()
	if err != nil {
		return imageSpec{}, fmt.Errorf("%s --list-full: %w", bin, err)
	}
	files := baseFiles()
	files = append(files, entry{name: "bin/busybox", mode: 0o755, data: data})
	for _, applet := range strings.Fields(string(out)) {
		applet = strings.TrimPrefix(applet, "/")
		if applet == "bin/busybox" {
			continue
		}
		files = append(files, entry{name: applet, mode: 0o777, linkname: "/bin/busybox"})
	}
	return imageSpec{files: files, config: v1.Config{
		Cmd:        []string{"sh"},
		Env:        []string{"PATH=" + defaultPath},
		WorkingDir: "/",
	}}, nil
}

// checkStatic refuses a dynamically linked busybox, which would not run in an image with no
// libc (Debian's plain busybox package is dynamic; busybox-static is not).
func checkStatic(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("%s: %w (install busybox-static)", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; install busybox-static", bin)
		}
	}
	return nil
}

// layerTar writes files as a tar, adding the parent directories it lacks, sorted by name.
func layerTar(files []entry) ([]byte, error) {
	byName := map[string]entry{}
	for _, f := range files {
		byName[f.name] = f
		for d := path.Dir(f.name); d != "."; d = path.Dir(d) {
			if _, ok := byName[d]; !ok {
				byName[d] = entry{name: d, dir: true, mode: 0o755}
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		f := byName[n]
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		case f.linkname != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.linkname
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// image assembles a linux/amd64 image of one layer.
func image(spec imageSpec) (v1.Image, error) {
	data, err := layerTar(spec.files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "skiff tests/images/build",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = spec.config
	return mutate.ConfigFile(img, cf)
}

// writeImage writes the image as a `docker save` tarball tagged ref, through a temporary file
// so that a failed build leaves no half-written tarball behind.
func writeImage(file, ref string, spec imageSpec) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	img, err := image(spec)
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, file)
}
