package runtime

import (
	"context"
	"fmt"
	"io"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/logs"
)

// ReadContainerLogs writes a container's log with `kubectl logs` semantics;
// a follower stops once the container is no longer running.
func (r *Runtime) ReadContainerLogs(ctx context.Context, id string, opts logs.ReadOptions, stdout, stderr io.Writer) error {
	st, err := r.ContainerStatus(ctx, id)
	if err != nil {
		return fmt.Errorf("logs of container %s: %w", id, err)
	}
	if opts.Running == nil {
		opts.Running = func(ctx context.Context) (bool, error) {
			s, err := r.ContainerStatus(ctx, id)
			if err != nil {
				return false, err
			}
			return s.State == StateRunning, nil
		}
	}
	return logs.ReadLogs(ctx, st.LogPath, opts, stdout, stderr)
}
