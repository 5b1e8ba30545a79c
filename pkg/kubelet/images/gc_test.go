package images

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// fakeRuntime holds images whose sizes fill a fake filesystem.
type fakeRuntime struct {
	mu      sync.Mutex
	images  map[string]int64
	removed []string
	fail    map[string]bool
	pinned  map[string]bool
}

func (f *fakeRuntime) ListImages(context.Context) ([]*runtime.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtime.Image
	for id, size := range f.images {
		out = append(out, &runtime.Image{ID: id, Size: size, Pinned: f.pinned[id]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeRuntime) RemoveImage(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[id] {
		return errors.New("boom")
	}
	delete(f.images, id)
	f.removed = append(f.removed, id)
	return nil
}

// usage is a filesystem of 1000 bytes holding 500 bytes of other data and the images.
func (f *fakeRuntime) usage() (FsStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	used := uint64(500)
	for _, s := range f.images {
		used += uint64(s)
	}
	return FsStats{Capacity: 1000, Available: 1000 - used}, nil
}

func TestGarbageCollect(t *testing.T) {
	ctx := context.Background()
	rt := &fakeRuntime{images: map[string]int64{"a": 100, "b": 100, "c": 100}}
	inUse := map[string]bool{"c": true}
	gc, err := NewGC(DefaultPolicy, rt, rt.usage, func(context.Context) (map[string]bool, error) {
		m := map[string]bool{}
		for k, v := range inUse {
			m[k] = v
		}
		return m, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000000, 0)
	now := t0
	gc.now = func() time.Time { return now }
	at := func(d time.Duration) { now = t0.Add(d) }

	// 800/1000 used: under the high threshold.
	if freed, err := gc.GarbageCollect(ctx); err != nil || freed != 0 {
		t.Fatalf("under the threshold: %d %v", freed, err)
	}
	// 850/1000: at the high threshold, but every image is younger than MinAge.
	at(30 * time.Second)
	rt.images["d"] = 50
	freed, err := gc.GarbageCollect(ctx)
	var fse *FreeSpaceError
	if !errors.As(err, &fse) || freed != 0 || fse.Wanted != 50 ||
		err.Error() != "Failed to garbage collect required amount of images. Attempted to free 50 bytes, but only found 0 bytes eligible to free." {
		t.Fatalf("young images: freed %d, %v", freed, err)
	}
	// b is used for a while; a and d never were, a was seen first: a goes.
	at(time.Minute)
	inUse["b"] = true
	_, _ = gc.Detect(ctx)
	delete(inUse, "b")
	at(3 * time.Minute)
	freed, err = gc.GarbageCollect(ctx)
	if err != nil || freed != 100 || !slices.Equal(rt.removed, []string{"a"}) {
		t.Fatalf("freed %d %v, removed %v", freed, err, rt.removed)
	}
	// 750/1000: nothing to do.
	if freed, err := gc.GarbageCollect(ctx); err != nil || freed != 0 || len(rt.removed) != 1 {
		t.Fatalf("below the threshold: %d %v %v", freed, err, rt.removed)
	}
	// 900/1000: 100 to free down to 80%; e is new, so d then b go; c is in use.
	rt.images["e"] = 150
	freed, err = gc.GarbageCollect(ctx)
	if err != nil || freed != 150 || !slices.Equal(rt.removed, []string{"a", "d", "b"}) {
		t.Fatalf("freed %d %v, removed %v", freed, err, rt.removed)
	}
	if _, ok := rt.images["c"]; !ok {
		t.Fatal("an image in use was removed")
	}
	// A removal that fails does not stop the others; a pinned image is never removed.
	at(6 * time.Minute)
	rt.images["f"], rt.images["g"], rt.images["pinned"] = 100, 10, 5
	rt.pinned = map[string]bool{"pinned": true}
	inUse["e"] = true
	_, _ = gc.Detect(ctx)
	rt.fail = map[string]bool{"f": true}
	at(9 * time.Minute)
	freed, err = gc.GarbageCollect(ctx)
	if freed != 10 || err == nil || !strings.Contains(err.Error(), "remove image f: boom") || rt.images["g"] != 0 || rt.images["pinned"] != 5 {
		t.Fatalf("failing removal: %d %v", freed, err)
	}
}

func TestPolicyValidation(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{HighThresholdPercent: 101}, "invalid HighThresholdPercent 101, must be in range [0-100]"},
		{Policy{HighThresholdPercent: 80, LowThresholdPercent: -1}, "invalid LowThresholdPercent -1, must be in range [0-100]"},
		{Policy{HighThresholdPercent: 80, LowThresholdPercent: 90}, "LowThresholdPercent 90 can not be higher than HighThresholdPercent 80"},
	} {
		if _, err := NewGC(tc.p, nil, nil, nil); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v", tc.p, err)
		}
	}
}
