package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SubPath returns the host path of a volumeMount's subPath within the volume at host,
// creating it as a directory when missing, as upstream's kubelet does. It refuses an
// absolute subPath, one with "..", and one that resolves (through symlinks inside the
// volume) to a place outside the volume, with upstream's messages. An empty sub
// returns host.
//
// The path is checked, not pinned: a container that swaps a directory for a symlink
// between the check and the bind mount could still escape; upstream closes that with
// bind mounts of opened file descriptors, which we do not do yet.
func SubPath(host, sub string) (string, error) {
	if sub == "" {
		return host, nil
	}
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subpath %q must be a relative path", sub)
	}
	for _, part := range strings.Split(filepath.ToSlash(sub), "/") {
		if part == ".." {
			return "", fmt.Errorf("subpath %q must not contain '..'", sub)
		}
	}
	base, err := filepath.EvalSymlinks(host)
	if err != nil {
		return "", fmt.Errorf("failed to evaluate volume path %s: %w", host, err)
	}
	full := filepath.Join(host, sub)
	if _, err := os.Lstat(full); os.IsNotExist(err) {
		if err := safeMkdirAll(base, sub); err != nil {
			return "", err
		}
	}
	resolved, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", fmt.Errorf("failed to evaluate subpath %q: %w", sub, err)
	}
	if resolved != base && !strings.HasPrefix(resolved, base+string(os.PathSeparator)) {
		return "", fmt.Errorf("subpath %q not within volume path %q", resolved, base)
	}
	return resolved, nil
}

// safeMkdirAll creates sub under base one component at a time, refusing to follow a
// symlink that leads out of base.
func safeMkdirAll(base, sub string) error {
	cur := base
	for _, part := range strings.Split(filepath.ToSlash(filepath.Clean(sub)), "/") {
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		switch {
		case os.IsNotExist(err):
			if err := os.Mkdir(next, 0o755); err != nil && !os.IsExist(err) {
				return fmt.Errorf("create subpath %q: %w", sub, err)
			}
		case err != nil:
			return fmt.Errorf("create subpath %q: %w", sub, err)
		case fi.Mode()&os.ModeSymlink != 0:
			r, err := filepath.EvalSymlinks(next)
			if err != nil {
				return fmt.Errorf("create subpath %q: %w", sub, err)
			}
			if r != base && !strings.HasPrefix(r, base+string(os.PathSeparator)) {
				return fmt.Errorf("subpath %q not within volume path %q", r, base)
			}
			next = r
		}
		cur = next
	}
	return nil
}
