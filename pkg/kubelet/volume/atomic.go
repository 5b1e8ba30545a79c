package volume

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fileData is one file of a projected payload.
type fileData struct {
	Data []byte
	Mode os.FileMode
}

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// writeAtomic makes dir show exactly files, as upstream's AtomicWriter does: the files
// go to a fresh hidden "..<timestamp>" directory, the "..data" symlink is swapped to it
// with a rename, visible top-level names link through "..data", and the previous
// timestamped directory and stale names are removed. Nothing is written when the
// payload is unchanged, so refreshes are cheap. Files get group gid unless it is -1.
func writeAtomic(dir string, files map[string]fileData, gid int) error {
	for p := range files {
		if err := validatePath(p); err != nil {
			return err
		}
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if oldTS != "" && sameAs(filepath.Join(dir, oldTS), files) {
		return linkVisible(dir, files)
	}
	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("write volume %s: %w", dir, err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return fmt.Errorf("write volume %s: %w", dir, err)
		}
		// WriteFile's mode is subject to the umask.
		if err := os.Chmod(full, f.Mode); err != nil {
			return err
		}
		if gid >= 0 {
			if err := os.Lchown(full, -1, gid); err != nil {
				return fmt.Errorf("write volume %s: %w", dir, err)
			}
		}
	}
	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return fmt.Errorf("write volume %s: %w", dir, err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		return fmt.Errorf("write volume %s: %w", dir, err)
	}
	if err := linkVisible(dir, files); err != nil {
		return err
	}
	if oldTS != "" && oldTS != filepath.Base(tsDir) {
		_ = os.RemoveAll(filepath.Join(dir, oldTS))
	}
	return nil
}

// linkVisible creates "<name> -> ..data/<name>" for each top-level name of files and
// removes visible names that are no longer in the payload.
func linkVisible(dir string, files map[string]fileData) error {
	want := map[string]bool{}
	for p := range files {
		want[strings.SplitN(p, "/", 2)[0]] = true
	}
	for name := range want {
		link := filepath.Join(dir, name)
		target := filepath.Join(dataDirName, name)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("write volume %s: %w", dir, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "..") || want[e.Name()] {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// sameAs reports whether tsDir already holds exactly files with the same modes.
func sameAs(tsDir string, files map[string]fileData) bool {
	n := 0
	err := filepath.Walk(tsDir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(tsDir, path)
		f, ok := files[filepath.ToSlash(rel)]
		if !ok || info.Mode().Perm() != f.Mode.Perm() {
			return os.ErrNotExist
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, f.Data) {
			return os.ErrNotExist
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}

// validatePath refuses payload paths that are absolute, climb out with "..", or start
// with "..", as upstream's validation does.
func validatePath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid path: must not be empty")
	}
	if filepath.IsAbs(p) {
		return fmt.Errorf("invalid path %q: must be relative", p)
	}
	if strings.HasPrefix(p, "..") {
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
	}
	return nil
}
