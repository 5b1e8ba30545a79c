// Command build writes skiff's test images as image tarballs that `ctr images import`, the
// containerd client's Import and `skiff image import` accept, since tests cannot pull from a
// registry:
//
//	<out>/agnhost-lite.tar  skiff.test/agnhost-lite:1  the static multi-tool of ../agnhost-lite
//	<out>/busybox.tar       skiff.test/busybox:1       Debian's static /bin/busybox and its applets
//
// Usage: go run ./tests/images/build -out bin/images
//
// The tarballs are in the `docker save` layout (manifest.json with RepoTags), which every
// containerd since 1.3 imports under the tagged name. Builds are reproducible: files and the
// image config carry a fixed timestamp.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "bin/images", "directory to write the image tarballs to")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary for the busybox image")
	flag.Parse()
	if err := run(*out, *busybox); err != nil {
		fmt.Fprintln(os.Stderr, "build images:", err)
		os.Exit(1)
	}
}

func run(out, busybox string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "skiff-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "agnhost-lite")
	if err := buildAgnhost(bin); err != nil {
		return err
	}
	for _, img := range []struct {
		file, ref string
		build     func() (imageSpec, error)
	}{
		{"agnhost-lite.tar", AgnhostRef, func() (imageSpec, error) { return agnhostSpec(bin) }},
		{"busybox.tar", BusyboxRef, func() (imageSpec, error) { return busyboxSpec(busybox) }},
	} {
		spec, err := img.build()
		if err != nil {
			return fmt.Errorf("%s: %w", img.ref, err)
		}
		path := filepath.Join(out, img.file)
		if err := writeImage(path, img.ref, spec); err != nil {
			return fmt.Errorf("%s: %w", img.ref, err)
		}
		fmt.Printf("%s -> %s\n", img.ref, path)
	}
	return nil
}
