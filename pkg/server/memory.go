package server

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"k8s.io/klog/v2"
)

// trimMemory keeps an idle server small. Between collections the Go heap may hold up
// to twice its live size in garbage (GOGC=100), and an idle server, allocating about
// 0.5 MB/s (leases, bookmarks), collects rarely; so once start-up has settled it
// releases the executable's start-up pages (releaseBinaryPages), and then
// collects and hands the freed heap back to the kernel every trimInterval(live):
// often while the heap is small, when a collection costs a few milliseconds, and
// once a minute for a large one. It also runs tuneGC, which bounds a busy
// server's garbage.
func trimMemory(ctx context.Context, settle time.Duration) {
	go tuneGC(ctx, time.Second)
	select {
	case <-ctx.Done():
		return
	case <-time.After(settle):
	}
	if n, err := releaseBinaryPages(); err != nil {
		klog.V(2).InfoS("Could not release the executable's pages", "err", err)
	} else {
		klog.V(4).InfoS("Released the executable's start-up pages", "mappedBytes", n)
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	for {
		debug.FreeOSMemory()
		metrics.Read(sample)
		var live uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(trimInterval(live)):
		}
	}
}

// trimInterval is the time between two trims of a heap of live bytes: 10 s up
// to smallHeap, a minute above.
func trimInterval(live uint64) time.Duration {
	if live <= smallHeap {
		return 10 * time.Second
	}
	return time.Minute
}

// smallHeap is the largest live heap trimmed every 10 s; an idle server's is
// about 55 MB.
const smallHeap = 128 << 20

// GC headroom policy (see tuneGC).
const (
	// minHeadroom is the garbage a heap above smallLive may always gather
	// between collections.
	// A 5,000-pod rollout on 1,000 nodes peaks near 200 MB of live heap, where
	// 48 MB rather than 64 MB held the anonymous RSS at 304 MB instead of
	// 329 MB, for ~15% more server CPU.
	minHeadroom = 48 << 20
	// headroomDivisor: a large heap may gather live/headroomDivisor of garbage
	// (GOGC=25). Most of a large server's heap is the watch caches' and the
	// informers' objects, which live long, so a collection finds little to free
	// and the RSS follows the heap goal; on 1,000 simulated nodes, going from a
	// half (GOGC=50) to a quarter cut the peak RSS of a 5,000-pod rollout from
	// 560 MB to 461 MB for 22% more server CPU during the rollout (30 s to
	// 37 s), which took as long (22-23 s).
	headroomDivisor = 4
	// smallLive is the largest live heap collected at smallGCPercent, 3x
	// its size: a single node's server with its agent holds ~47 MB idle and
	// ~56 MB after starting 30 pods at once, and there collecting at twice
	// the live heap or less spent a third of the server's CPU in the
	// collector and its write barriers (GOGC=400 took the server's CPU for
	// the 30 pods from 1.0 s to 0.6 s). An idle server stays small all the
	// same, since trimMemory collects every 10 s; a large one, where each
	// MB counts against the RSS, keeps the headroom policy.
	smallLive      = 64 << 20
	smallGCPercent = 200
)

// gcPercent is the GOGC for a heap of live bytes: smallGCPercent up to
// smallLive, then the one that lets the heap grow by max(minHeadroom,
// live/headroomDivisor) before the next collection, never more than 100
// (Go's default).
func gcPercent(live uint64) int {
	if live == 0 {
		return 100
	}
	if live <= smallLive {
		return smallGCPercent
	}
	headroom := max(uint64(minHeadroom), live/headroomDivisor)
	return min(100, int(headroom*100/live))
}

// tuneGC bounds the garbage a large heap may gather. With GOGC=100 the heap grows
// to twice its live size before a collection: harmless for a small server, but a
// server holding 250 MB of objects (1,000 nodes, 5,000 pods in watch caches and
// informers) would peak near 500 MB of heap. So once the live heap outgrows
// smallLive, GOGC falls in step, holding the garbage to max(minHeadroom,
// live/headroomDivisor); below it, a busy server collects at 3x its live
// heap. It re-reads the live heap every period, which costs a few
// microseconds. An explicit GOGC in the environment turns the policy off.
func tuneGC(ctx context.Context, period time.Duration) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(period)
	defer t.Stop()
	cur := 100
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		if p := gcPercent(sample[0].Value.Uint64()); p != cur {
			debug.SetGCPercent(p)
			cur = p
		}
	}
}
