// Package garbagecollector deletes objects whose owners are gone, as upstream's
// garbage collector does: it watches every resource that can be listed, watched and
// deleted (built-in and custom, found through discovery every 30 seconds) through
// the controllers' shared informer where one runs and as metadata only otherwise,
// builds the uid-keyed owner→dependents graph from their ownerReferences, and
//
//   - deletes a dependent (background) once none of its owners exists, confirming
//     the absence with a live GET rather than the cache;
//   - for an owner deleted in the foreground (finalizer foregroundDeletion),
//     deletes its dependents and removes the finalizer once no dependent with
//     blockOwnerDeletion is left;
//   - for an owner deleted with orphaning (finalizer orphan), removes the
//     ownerReferences to it from its dependents, then the finalizer.
package garbagecollector

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Workers per queue (upstream runs 20 of each; one machine's worth is enough here).
const (
	deleteWorkers = 5
	orphanWorkers = 2
)

// GarbageCollector is the graph builder, its monitors and the delete and orphan workers.
type GarbageCollector struct {
	c         *controllers.Context
	builder   *builder
	discovery discovery.CachedDiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	recorder  record.EventRecorder

	// workerLock is held by every worker for one item, and by discovery while new
	// monitors sync.
	workerLock sync.RWMutex
	monMu      sync.Mutex
	monitors   map[schema.GroupVersionResource]*monitor
	ready      atomic.Bool
}

// New returns a garbage collector over c's clients.
func New(c *controllers.Context) *GarbageCollector {
	dc := memory.NewMemCacheClient(c.Client.Discovery())
	return &GarbageCollector{
		c:         c,
		builder:   newBuilder(),
		discovery: dc,
		mapper:    restmapper.NewDeferredDiscoveryRESTMapper(dc),
		recorder:  c.Recorder("garbage-collector-controller"),
		monitors:  map[schema.GroupVersionResource]*monitor{},
	}
}

// Start runs the garbage collector until ctx ends.
func Start(ctx context.Context, c *controllers.Context) error {
	gc := New(c)
	c.Go(func() { gc.builder.run(ctx) })
	c.Go(func() { gc.discover(ctx) })
	c.Go(func() {
		controllers.RunWorkers(ctx, "garbagecollector", gc.builder.attemptToDelete, deleteWorkers, gc.locked(gc.attemptToDelete), gc.ready.Load)
	})
	c.Go(func() {
		controllers.RunWorkers(ctx, "garbagecollector-orphan", gc.builder.attemptToOrphan, orphanWorkers, gc.locked(gc.attemptToOrphan), gc.ready.Load)
	})
	return nil
}

func (gc *GarbageCollector) locked(fn func(ctx context.Context, uid types.UID) error) func(ctx context.Context, key string) error {
	return func(ctx context.Context, key string) error {
		gc.workerLock.RLock()
		defer gc.workerLock.RUnlock()
		return fn(ctx, types.UID(key))
	}
}

// errNotObserved requeues, with backoff, a virtual node whose object exists but has
// not been seen by an informer yet (its CRD may be newer than the last discovery).
var errNotObserved = errors.New("owner exists but its informer has not shown it yet")
