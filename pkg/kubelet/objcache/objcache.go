// Package objcache serves the kubelet the ConfigMaps and Secrets its pods
// reference from one watch per object, as upstream's kubelet does with its
// watch-based manager, instead of a GET per pod per read: a burst of pods
// reading the same kube-root-ca.crt costs one LIST and one watch, and a
// refresh of a configMap volume reads memory.
//
// An object's watch starts on its first Get, limited by a field selector on
// its name (which the node's RBAC role allows), and stops once no Get has
// asked for it for the idle time; the kubelet refreshes mounted volumes more
// often than that, so objects of running pods stay watched.
//
//	src := objcache.NewSources(client, 5*time.Minute)
//	go src.Run(ctx)
//	cm, err := src.ConfigMap(ctx, ns, name) // a NotFound error names the resource as upstream does
package objcache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// Cache holds the watched objects of one resource.
type Cache struct {
	newLW    func(ns, name string) cache.ListerWatcher
	example  runtime.Object
	resource schema.GroupResource // for NotFound errors: configmap, secret
	idle     time.Duration

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool
}

type entry struct {
	inf      cache.SharedIndexInformer
	stop     chan struct{}
	done     chan struct{}
	lastUsed time.Time
}

// New returns a cache of resource (plural, e.g. "configmaps") whose
// objects are watched through the list-watch newLW makes for one object;
// example is an empty object of its type. NewSources makes the kubelet's.
func New(newLW func(ns, name string) cache.ListerWatcher, resource string, example runtime.Object, idle time.Duration) *Cache {
	return &Cache{
		newLW:    newLW,
		example:  example,
		resource: schema.GroupResource{Resource: strings.TrimSuffix(resource, "s")},
		idle:     idle,
		entries:  map[string]*entry{},
	}
}

// Get returns the object ns/name as last seen by its watch, starting the
// watch and waiting for its first list when it is not running. The object
// is shared: callers must not modify it.
func (c *Cache) Get(ctx context.Context, ns, name string) (runtime.Object, error) {
	key := ns + "/" + name
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("%s cache closed", c.resource.Resource)
	}
	e := c.entries[key]
	if e == nil {
		e = &entry{
			inf:  cache.NewSharedIndexInformer(c.newLW(ns, name), c.example, 0, cache.Indexers{}),
			stop: make(chan struct{}),
			done: make(chan struct{}),
		}
		c.entries[key] = e
		go func() {
			defer close(e.done)
			e.inf.Run(e.stop)
		}()
	}
	e.lastUsed = time.Now()
	c.mu.Unlock()

	if err := c.waitSynced(ctx, e, name); err != nil {
		return nil, err
	}
	obj, ok, err := e.inf.GetStore().GetByKey(key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierrors.NewNotFound(c.resource, name)
	}
	return obj.(runtime.Object), nil
}

// syncTimeout bounds the wait for a watch's first list, as upstream's
// manager bounds it (there 1 s): a list that keeps failing, forbidden say,
// is reported rather than waited on.
const syncTimeout = 5 * time.Second

func (c *Cache) waitSynced(ctx context.Context, e *entry, name string) error {
	if e.inf.HasSynced() {
		return nil
	}
	deadline := time.NewTimer(syncTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !e.inf.HasSynced() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.stop:
			return fmt.Errorf("%s %q: watch stopped before its first list", c.resource.Resource, name)
		case <-deadline.C:
			return fmt.Errorf("failed to sync %s cache for %q: timed out after %v", c.resource.Resource, name, syncTimeout)
		case <-tick.C:
		}
	}
	return nil
}

// Run stops the watches nobody has asked for within the idle time, until
// ctx ends; then it stops them all and Get fails.
func (c *Cache) Run(ctx context.Context) {
	t := time.NewTicker(c.idle / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.closed = true
			all := c.entries
			c.entries = map[string]*entry{}
			c.mu.Unlock()
			for _, e := range all {
				close(e.stop)
				<-e.done
			}
			return
		case <-t.C:
			c.sweep(time.Now())
		}
	}
}

// sweep stops the entries unused since before now minus the idle time.
func (c *Cache) sweep(now time.Time) {
	var stale []*entry
	c.mu.Lock()
	for k, e := range c.entries {
		if now.Sub(e.lastUsed) >= c.idle {
			stale = append(stale, e)
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
	for _, e := range stale {
		close(e.stop)
		<-e.done
	}
}

// Len is the number of objects being watched.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
