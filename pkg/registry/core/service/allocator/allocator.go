// Package allocator hands out values of a numbered range (ClusterIPs, NodePorts) as
// claims kept in storage, one key per claimed value.
//
// Design. A claim is an object created under its own key (an IPAddress named after the
// IP, a RangeAllocation named after the port). The storage's create is atomic, so two
// creates of the same value can never both succeed, whether they race in one server,
// in two servers sharing the datastore, or across a restart: the store itself is the
// allocation table and nothing is cached in memory. Release deletes the key, but only
// when it still names the same owner, so a late release never frees a value that has
// since gone to someone else. This is how upstream 1.33+ allocates ClusterIPs (one
// IPAddress object per IP); we use the same shape for NodePorts instead of a bitmap
// so both allocators share one audited code path.
//
// Dynamic allocation follows upstream's static/dynamic split: the bottom band of the
// range is left for values users ask for by number, random picks come from the rest
// first and fall back to the bottom band when the rest is full.
//
//	r := allocator.New(backend, allocator.Range{Base: 30000, Size: 2768, StaticBand: 86})
//	v, err := r.AllocateNext(ctx, owner)    // 30000+random offset, claimed in storage
//	err = r.Allocate(ctx, 30080, owner)     // ErrAllocated when taken
//	err = r.Release(ctx, 30080, owner)
package allocator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
)

// ErrFull means no value of the range is free.
var ErrFull = errors.New("range is full")

// ErrExists is what a Backend returns when the value's key already exists.
var ErrExists = errors.New("already exists")

// Owner identifies who holds a claim: the namespace and name of a Service.
type Owner struct {
	Namespace, Name string
}

// String is namespace/name.
func (o Owner) String() string { return o.Namespace + "/" + o.Name }

// Backend keeps claims: Claim creates the key of offset atomically (ErrExists if it is
// taken), Owner reads who holds it (ok false when free), Release deletes it when it is
// still held by owner, Claimed lists the offsets held.
type Backend interface {
	Claim(ctx context.Context, offset int, owner Owner) error
	Owner(ctx context.Context, offset int) (Owner, bool, error)
	Release(ctx context.Context, offset int, owner Owner) error
	Claimed(ctx context.Context) ([]int, error)
}

// Range is a contiguous numbered range; offsets run from 0 to Size-1. The first
// StaticBand offsets are picked dynamically only when the rest is full.
type Range struct {
	Size       int
	StaticBand int
}

// StaticBand returns upstream's static band for a range of size values: size/divisor,
// at least min and at most max (and never the whole range).
func StaticBand(size, divisor, min, max int) int {
	b := size / divisor
	if b < min {
		b = min
	}
	if b > max {
		b = max
	}
	if b >= size {
		b = 0
	}
	return b
}

// Allocator claims offsets of a Range through a Backend.
type Allocator struct {
	b Backend
	r Range
	// tries is how many random picks are claimed before listing what is taken.
	tries int
}

// New returns an allocator over b.
func New(b Backend, r Range) *Allocator { return &Allocator{b: b, r: r, tries: 8} }

// Size is the number of values in the range.
func (a *Allocator) Size() int { return a.r.Size }

// Allocate claims a given offset; it returns ErrExists when the offset is taken.
// The caller checks the offset is within the range.
func (a *Allocator) Allocate(ctx context.Context, offset int, owner Owner) error {
	if offset < 0 || offset >= a.r.Size {
		return fmt.Errorf("offset %d outside range of %d", offset, a.r.Size)
	}
	return a.b.Claim(ctx, offset, owner)
}

// Free reports whether offset is free now (for dry runs; nothing is claimed).
func (a *Allocator) Free(ctx context.Context, offset int) (bool, error) {
	_, held, err := a.b.Owner(ctx, offset)
	return !held, err
}

// AllocateNext claims a free offset: random picks from the dynamic band first, then,
// when those collide, a scan of what is free, dynamic band before static band.
func (a *Allocator) AllocateNext(ctx context.Context, owner Owner) (int, error) {
	return a.next(ctx, func(off int) error { return a.b.Claim(ctx, off, owner) })
}

// PeekNext returns an offset that is free now without claiming it (for dry runs).
func (a *Allocator) PeekNext(ctx context.Context) (int, error) {
	return a.next(ctx, func(off int) error {
		_, held, err := a.b.Owner(ctx, off)
		if err != nil {
			return err
		}
		if held {
			return ErrExists
		}
		return nil
	})
}

func (a *Allocator) next(ctx context.Context, claim func(int) error) (int, error) {
	dyn := a.r.Size - a.r.StaticBand
	if dyn > 0 {
		for i := 0; i < a.tries; i++ {
			off := a.r.StaticBand + rand.IntN(dyn)
			switch err := claim(off); {
			case err == nil:
				return off, nil
			case !errors.Is(err, ErrExists):
				return 0, err
			}
		}
	}
	// Crowded: list what is claimed and walk the free offsets from a random start,
	// dynamic band first. A collision here is a concurrent claim; try the next one.
	claimed, err := a.b.Claimed(ctx)
	if err != nil {
		return 0, err
	}
	taken := make(map[int]bool, len(claimed))
	for _, c := range claimed {
		taken[c] = true
	}
	for _, band := range [][2]int{{a.r.StaticBand, a.r.Size}, {0, a.r.StaticBand}} {
		n := band[1] - band[0]
		if n <= 0 {
			continue
		}
		start := rand.IntN(n)
		for i := 0; i < n; i++ {
			off := band[0] + (start+i)%n
			if taken[off] {
				continue
			}
			switch err := claim(off); {
			case err == nil:
				return off, nil
			case !errors.Is(err, ErrExists):
				return 0, err
			}
		}
	}
	return 0, ErrFull
}

// Release frees offset if owner still holds it.
func (a *Allocator) Release(ctx context.Context, offset int, owner Owner) error {
	if offset < 0 || offset >= a.r.Size {
		return nil
	}
	return a.b.Release(ctx, offset, owner)
}

// Owner returns who holds offset.
func (a *Allocator) Owner(ctx context.Context, offset int) (Owner, bool, error) {
	return a.b.Owner(ctx, offset)
}
