// Package images is the kubelet's image garbage collector, as upstream's
// image GC manager behaves: when the filesystem holding the images is used
// at or above HighThresholdPercent, unused images are removed, least
// recently used first, until usage is back to LowThresholdPercent. Pinned
// images (the agent's imported tarballs) are never removed. An image is in
// use while a container (running or not) or a pod on the node refers
// to it; an image is not removed before MinAge since the collector first saw
// it.
//
//	gc, _ := images.NewGC(images.DefaultPolicy, rt, images.StatFS(dir), inUse)
//	freed, err := gc.GarbageCollect(ctx)
package images

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// Policy is the kubelet's imageGC* configuration.
type Policy struct {
	// HighThresholdPercent: usage at or above it starts a collection.
	HighThresholdPercent int
	// LowThresholdPercent: usage a collection brings the filesystem back to.
	LowThresholdPercent int
	// MinAge: an image is not removed before it has been known this long.
	MinAge time.Duration
}

// DefaultPolicy is upstream's: imageGCHighThresholdPercent 85,
// imageGCLowThresholdPercent 80, imageMinimumGCAge 2m.
var DefaultPolicy = Policy{HighThresholdPercent: 85, LowThresholdPercent: 80, MinAge: 2 * time.Minute}

// Period is how often upstream's kubelet collects images.
const Period = 5 * time.Minute

// Runtime lists and removes images (runtime.ImageService).
type Runtime interface {
	ListImages(ctx context.Context) ([]*runtime.Image, error)
	RemoveImage(ctx context.Context, ref string) error
}

// FsStats is the usage of the filesystem holding the images.
type FsStats struct {
	Capacity, Available uint64
}

// StatFS returns the usage of the filesystem holding path.
func StatFS(path string) func() (FsStats, error) {
	return func() (FsStats, error) {
		var st unix.Statfs_t
		if err := unix.Statfs(path, &st); err != nil {
			return FsStats{}, fmt.Errorf("statfs %s: %w", path, err)
		}
		return FsStats{Capacity: st.Blocks * uint64(st.Bsize), Available: st.Bavail * uint64(st.Bsize)}, nil
	}
}

// GC collects images; it is safe for concurrent use.
type GC struct {
	policy  Policy
	rt      Runtime
	fsStats func() (FsStats, error)
	inUse   func(ctx context.Context) (map[string]bool, error)
	now     func() time.Time

	mu      sync.Mutex
	records map[string]*record // by image ID
}

type record struct {
	firstDetected, lastUsed time.Time
	size                    int64
	pinned                  bool
}

// NewGC checks the policy as upstream does. inUse returns the IDs of the
// images containers and pods use.
func NewGC(policy Policy, rt Runtime, fsStats func() (FsStats, error), inUse func(ctx context.Context) (map[string]bool, error)) (*GC, error) {
	if policy.HighThresholdPercent < 0 || policy.HighThresholdPercent > 100 {
		return nil, fmt.Errorf("invalid HighThresholdPercent %d, must be in range [0-100]", policy.HighThresholdPercent)
	}
	if policy.LowThresholdPercent < 0 || policy.LowThresholdPercent > 100 {
		return nil, fmt.Errorf("invalid LowThresholdPercent %d, must be in range [0-100]", policy.LowThresholdPercent)
	}
	if policy.LowThresholdPercent > policy.HighThresholdPercent {
		return nil, fmt.Errorf("LowThresholdPercent %d can not be higher than HighThresholdPercent %d", policy.LowThresholdPercent, policy.HighThresholdPercent)
	}
	return &GC{policy: policy, rt: rt, fsStats: fsStats, inUse: inUse, now: time.Now, records: map[string]*record{}}, nil
}

// FreeSpaceError is a collection that could not free enough
// (the kubelet's FreeDiskSpaceFailed event).
type FreeSpaceError struct{ Wanted, Freed int64 }

func (e *FreeSpaceError) Error() string {
	return fmt.Sprintf("Failed to garbage collect required amount of images. Attempted to free %d bytes, but only found %d bytes eligible to free.", e.Wanted, e.Freed)
}

// Detect records the images present and which are in use now; the
// collector calls it each time, and the kubelet may call it more often so
// that last-used times are finer than the collection period.
func (g *GC) Detect(ctx context.Context) ([]string, error) {
	imgs, err := g.rt.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	used, err := g.inUse(ctx)
	if err != nil {
		return nil, err
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	present := map[string]bool{}
	var ids []string
	for _, img := range imgs {
		present[img.ID] = true
		ids = append(ids, img.ID)
		r, ok := g.records[img.ID]
		if !ok {
			r = &record{firstDetected: now}
			g.records[img.ID] = r
		}
		if used[img.ID] {
			r.lastUsed = now
		}
		r.size, r.pinned = img.Size, img.Pinned
	}
	for id := range g.records {
		if !present[id] {
			delete(g.records, id)
		}
	}
	return ids, nil
}

// GarbageCollect frees space when usage is at or above the high threshold.
// It returns the bytes freed; a *FreeSpaceError when not enough could be.
func (g *GC) GarbageCollect(ctx context.Context) (int64, error) {
	st, err := g.fsStats()
	if err != nil {
		return 0, fmt.Errorf("get image filesystem stats: %w", err)
	}
	if st.Available > st.Capacity {
		st.Available = st.Capacity
	}
	if st.Capacity == 0 {
		return 0, fmt.Errorf("invalid capacity 0 on image filesystem")
	}
	usage := 100 - int(st.Available*100/st.Capacity)
	if usage < g.policy.HighThresholdPercent {
		// Keep the records fresh so that last-used times are known when needed.
		_, err := g.Detect(ctx)
		return 0, err
	}
	want := int64(st.Capacity)*int64(100-g.policy.LowThresholdPercent)/100 - int64(st.Available)
	freed, err := g.freeSpace(ctx, want)
	if err != nil {
		return freed, err
	}
	if freed < want {
		return freed, &FreeSpaceError{Wanted: want, Freed: freed}
	}
	return freed, nil
}

// freeSpace removes unused images older than MinAge, least recently used
// (then first detected) first, until want bytes are freed.
func (g *GC) freeSpace(ctx context.Context, want int64) (int64, error) {
	if _, err := g.Detect(ctx); err != nil {
		return 0, err
	}
	used, err := g.inUse(ctx)
	if err != nil {
		return 0, err
	}
	now := g.now()
	type candidate struct {
		id string
		record
	}
	g.mu.Lock()
	var cands []candidate
	for id, r := range g.records {
		if !used[id] && !r.pinned {
			cands = append(cands, candidate{id, *r})
		}
	}
	g.mu.Unlock()
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].lastUsed.Equal(cands[j].lastUsed) {
			return cands[i].lastUsed.Before(cands[j].lastUsed)
		}
		return cands[i].firstDetected.Before(cands[j].firstDetected)
	})
	var freed int64
	var errs []error
	for _, c := range cands {
		if freed >= want {
			break
		}
		if now.Sub(c.firstDetected) < g.policy.MinAge {
			continue
		}
		// A failed removal does not stop the others, as upstream.
		if err := g.rt.RemoveImage(ctx, c.id); err != nil {
			errs = append(errs, fmt.Errorf("remove image %s: %w", c.id, err))
			continue
		}
		g.mu.Lock()
		delete(g.records, c.id)
		g.mu.Unlock()
		freed += c.size
	}
	return freed, errors.Join(errs...)
}

// DeleteUnused removes every unused image known for at least MinAge, as
// upstream's eviction manager reclaims images under disk pressure.
func (g *GC) DeleteUnused(ctx context.Context) (int64, error) {
	return g.freeSpace(ctx, math.MaxInt64)
}
