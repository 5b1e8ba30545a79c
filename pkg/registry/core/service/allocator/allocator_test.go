package allocator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestAllocateNextNeverDuplicatesUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	const size = 300
	a := New(NewMemory(), Range{Size: size, StaticBand: 16})
	var mu sync.Mutex
	seen := map[int]string{}
	var wg sync.WaitGroup
	errs := make(chan error, size+10)
	for i := 0; i < size+10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := Owner{Namespace: "ns", Name: fmt.Sprint("svc", i)}
			off, err := a.AllocateNext(ctx, owner)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := seen[off]; dup {
				t.Errorf("offset %d given to %s and %s", off, prev, owner)
			}
			seen[off] = owner.Name
		}()
	}
	wg.Wait()
	close(errs)
	if len(seen) != size {
		t.Fatalf("allocated %d offsets, want the whole range of %d", len(seen), size)
	}
	full := 0
	for err := range errs {
		if !errors.Is(err, ErrFull) {
			t.Fatalf("unexpected error %v", err)
		}
		full++
	}
	if full != 10 {
		t.Fatalf("%d allocations failed with ErrFull, want 10", full)
	}
}

func TestDynamicPicksAvoidStaticBandUntilFull(t *testing.T) {
	ctx := context.Background()
	a := New(NewMemory(), Range{Size: 64, StaticBand: 16})
	for i := 0; i < 48; i++ {
		off, err := a.AllocateNext(ctx, Owner{Name: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		if off < 16 {
			t.Fatalf("allocation %d took static offset %d while the dynamic band had room", i, off)
		}
	}
	off, err := a.AllocateNext(ctx, Owner{Name: "late"})
	if err != nil || off >= 16 {
		t.Fatalf("after the dynamic band filled: got %d, %v; want a static offset", off, err)
	}
}

func TestAllocateReleaseAndOwnership(t *testing.T) {
	ctx := context.Background()
	a := New(NewMemory(), Range{Size: 10})
	web, db := Owner{"default", "web"}, Owner{"default", "db"}
	if err := a.Allocate(ctx, 3, web); err != nil {
		t.Fatal(err)
	}
	if err := a.Allocate(ctx, 3, db); !errors.Is(err, ErrExists) {
		t.Fatalf("second claim of 3: %v, want ErrExists", err)
	}
	// A release by someone else is ignored.
	if err := a.Release(ctx, 3, db); err != nil {
		t.Fatal(err)
	}
	if free, _ := a.Free(ctx, 3); free {
		t.Fatal("3 freed by a release from a non-owner")
	}
	if err := a.Release(ctx, 3, web); err != nil {
		t.Fatal(err)
	}
	if free, _ := a.Free(ctx, 3); !free {
		t.Fatal("3 still held after its owner released it")
	}
	if err := a.Allocate(ctx, 10, web); err == nil {
		t.Fatal("offset outside the range accepted")
	}
}

func TestPeekNextClaimsNothing(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	a := New(m, Range{Size: 4})
	if _, err := a.PeekNext(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := m.Claimed(ctx); len(c) != 0 {
		t.Fatalf("PeekNext claimed %v", c)
	}
}

func TestStaticBand(t *testing.T) {
	for _, tc := range []struct{ size, div, min, max, want int }{
		{65534, 16, 16, 256, 256}, {254, 16, 16, 256, 16}, {2768, 32, 16, 128, 86}, {8, 16, 16, 256, 0},
	} {
		if got := StaticBand(tc.size, tc.div, tc.min, tc.max); got != tc.want {
			t.Errorf("StaticBand(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}
