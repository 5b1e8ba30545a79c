package garbagecollector

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// ignoredResources are not collected, as upstream's defaults: events are many and
// short-lived, and nothing owns them.
var ignoredResources = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// monitor feeds the graph with the events of one resource: through the
// controllers' shared typed informer when one runs (as upstream's collector
// does), otherwise through a metadata-only informer with its own lifetime, so
// that the resource of a deleted CRD stops being watched.
type monitor struct {
	synced cache.InformerSynced
	stop   func()
}

// syncMonitors watches each of resources not watched yet and stops watching the
// resources discovery no longer lists (except those of groups it failed to reach).
// It reports whether the set changed.
func (gc *GarbageCollector) syncMonitors(ctx context.Context, resources []controllers.APIResource, failed map[schema.GroupVersion]error) bool {
	gc.monMu.Lock()
	defer gc.monMu.Unlock()
	want := map[schema.GroupVersionResource]bool{}
	changed := false
	for _, r := range resources {
		if ignoredResources[r.GroupResource()] {
			continue
		}
		want[r.GroupVersionResource] = true
		if _, ok := gc.monitors[r.GroupVersionResource]; ok {
			continue
		}
		gc.monitors[r.GroupVersionResource] = gc.startMonitor(ctx, r)
		changed = true
	}
	for gvr, m := range gc.monitors {
		if want[gvr] {
			continue
		}
		if _, ok := failed[gvr.GroupVersion()]; ok {
			continue
		}
		m.stop()
		delete(gc.monitors, gvr)
		changed = true
	}
	return changed
}

func (gc *GarbageCollector) startMonitor(ctx context.Context, r controllers.APIResource) *monitor {
	apiVersion := r.GroupVersion().String()
	toEvent := func(typ eventType, obj interface{}) *event {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil
		}
		return &event{typ: typ, obj: m, identity: objectReference{
			OwnerReference: metav1.OwnerReference{APIVersion: apiVersion, Kind: r.Kind, Name: m.GetName(), UID: m.GetUID()},
			Namespace:      m.GetNamespace()}}
	}
	add := func(typ eventType, obj interface{}) {
		if ev := toEvent(typ, obj); ev != nil {
			gc.builder.changes.Add(ev)
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { add(addEvent, obj) },
		UpdateFunc: func(_, obj interface{}) { add(updateEvent, obj) },
		DeleteFunc: func(obj interface{}) { add(deleteEvent, obj) },
	}
	if inf := gc.c.RunningInformer(ctx, r.GroupVersionResource, r.Kind); inf != nil {
		// A shared informer already replays its cache to a new handler; the
		// monitor only adds and removes its handler.
		reg, err := inf.AddEventHandler(handler)
		if err == nil {
			return &monitor{synced: reg.HasSynced, stop: func() { _ = inf.RemoveEventHandler(reg) }}
		}
		klog.FromContext(ctx).V(2).Info("Shared informer refused the garbage collector's handler; watching metadata", "resource", r.GroupVersionResource, "err", err)
	}
	inf := metadatainformer.NewFilteredMetadataInformer(gc.c.Metadata, r.GroupVersionResource, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	_ = inf.SetTransform(controllers.StripManagedFields)
	reg, _ := inf.AddEventHandler(handler)
	mctx, cancel := context.WithCancel(ctx)
	gc.c.Go(func() { inf.RunWithContext(mctx) })
	return &monitor{synced: func() bool { return inf.HasSynced() && reg.HasSynced() }, stop: cancel}
}

// monitorsSynced reports whether every monitor has listed its resource once.
func (gc *GarbageCollector) monitorsSynced() bool {
	gc.monMu.Lock()
	defer gc.monMu.Unlock()
	if len(gc.monitors) == 0 {
		return false
	}
	for _, m := range gc.monitors {
		if !m.synced() {
			return false
		}
	}
	return true
}

// discover runs discovery every resyncPeriod, starting monitors for new resources
// (new CRDs) and stopping those of removed ones. While new monitors sync the
// workers pause, as upstream's, so that no decision is made on a partial graph.
func (gc *GarbageCollector) discover(ctx context.Context) {
	logger := klog.FromContext(ctx)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		gc.mapper.Reset()
		resources, failed, err := controllers.PreferredResources(gc.discovery, "delete", "list", "watch")
		if err != nil {
			logger.Error(err, "Garbage collector discovery failed")
			return
		}
		gc.workerLock.Lock()
		defer gc.workerLock.Unlock()
		// The first time, workers start once this wait is over (see ready).
		defer gc.ready.Store(true)
		if !gc.syncMonitors(ctx, resources, failed) {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, resyncPeriod)
		defer cancel()
		if !cache.WaitForCacheSync(sctx.Done(), gc.monitorsSynced) && ctx.Err() == nil {
			logger.Info("Timed out waiting for the garbage collector's new monitors to sync; going on with a partial graph")
		}
	}, resyncPeriod)
}

const resyncPeriod = 30 * time.Second
