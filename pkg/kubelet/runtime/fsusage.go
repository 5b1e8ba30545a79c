package runtime

import (
	"context"
	"fmt"
)

// ContainerFsUsage is the size of a container's writable layer (its
// snapshot's own usage, not the image's), for the eviction manager.
func (r *Runtime) ContainerFsUsage(ctx context.Context, id string) (int64, error) {
	ctx = r.ctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("container %s: %w", id, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("container %s: %w", id, err)
	}
	if info.SnapshotKey == "" {
		return 0, nil
	}
	u, err := r.client.SnapshotService(info.Snapshotter).Usage(ctx, info.SnapshotKey)
	if err != nil {
		return 0, fmt.Errorf("container %s: snapshot usage: %w", id, err)
	}
	return u.Size, nil
}
