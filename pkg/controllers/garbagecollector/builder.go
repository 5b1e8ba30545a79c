package garbagecollector

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

type eventType int

const (
	addEvent eventType = iota
	updateEvent
	deleteEvent
)

// event is one change the graph builder applies, in the order the informers saw
// them. A virtual delete (obj nil) comes from a worker that found the object gone
// before its informer said so.
type event struct {
	typ      eventType
	identity objectReference
	obj      metav1.Object
	// ofVirtual marks a virtual delete for a node that was virtual when the worker
	// looked it up by the coordinates a dependent gave.
	ofVirtual bool
}

// builder applies informer events to the graph in one goroutine and feeds the
// workers' queues: dependents of owners that went away, owners in foreground
// deletion, owners to orphan.
type builder struct {
	graph           *graph
	changes         workqueue.TypedInterface[*event]
	attemptToDelete controllers.Queue
	attemptToOrphan controllers.Queue
}

func newBuilder() *builder {
	return &builder{
		graph:           newGraph(),
		changes:         workqueue.NewTyped[*event](),
		attemptToDelete: controllers.NewQueue("garbage_collector_attempt_to_delete"),
		attemptToOrphan: controllers.NewQueue("garbage_collector_attempt_to_orphan"),
	}
}

// run applies events until ctx ends.
func (b *builder) run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		b.changes.ShutDown()
	}()
	for {
		ev, quit := b.changes.Get()
		if quit {
			return
		}
		b.process(ev)
		b.changes.Done(ev)
	}
}

func beingDeleted(obj metav1.Object) bool { return obj.GetDeletionTimestamp() != nil }

func hasFinalizer(obj metav1.Object, f string) bool { return slices.Contains(obj.GetFinalizers(), f) }

func (b *builder) process(ev *event) {
	g := b.graph
	g.mu.Lock()
	defer g.mu.Unlock()
	uid := ev.identity.UID
	n := g.nodes[uid]
	if ev.typ == deleteEvent {
		if n == nil || (ev.ofVirtual && !n.virtual) {
			// An informer has since shown the object at its real coordinates.
			return
		}
		b.removeNode(n)
		for d := range n.dependents {
			b.attemptToDelete.Add(string(d.identity.UID))
		}
		for _, ref := range n.owners {
			if o := g.nodes[ref.UID]; o != nil && o.deletingDependents {
				b.attemptToDelete.Add(string(ref.UID))
			}
		}
		return
	}
	obj := ev.obj
	if n == nil {
		n = &node{identity: ev.identity, owners: obj.GetOwnerReferences(), dependents: map[*node]struct{}{}}
		g.nodes[uid] = n
		b.addToOwners(n, n.owners)
	} else {
		if n.virtual {
			n.virtual = false
			n.identity = ev.identity
		}
		added, removed, changed := diffOwners(n.owners, obj.GetOwnerReferences())
		if len(added)+len(removed)+len(changed) > 0 {
			b.wakeUnblockedOwners(removed, changed)
			n.owners = obj.GetOwnerReferences()
			b.addToOwners(n, added)
			for _, ref := range removed {
				if o := g.nodes[ref.UID]; o != nil {
					delete(o.dependents, n)
				}
			}
		}
	}
	if beingDeleted(obj) {
		n.beingDeleted = true
	}
	b.processTransitions(obj, n)
}

// addToOwners links n to the owners refs name, standing a virtual node in for an
// owner not seen yet and asking a worker to check that it exists.
func (b *builder) addToOwners(n *node, refs []metav1.OwnerReference) {
	for _, ref := range refs {
		o := b.graph.nodes[ref.UID]
		if o == nil {
			o = &node{identity: objectReference{OwnerReference: ref, Namespace: n.identity.Namespace}, virtual: true, dependents: map[*node]struct{}{}}
			b.graph.nodes[ref.UID] = o
			b.attemptToDelete.Add(string(ref.UID))
		}
		o.dependents[n] = struct{}{}
	}
}

func (b *builder) removeNode(n *node) {
	delete(b.graph.nodes, n.identity.UID)
	for _, ref := range n.owners {
		if o := b.graph.nodes[ref.UID]; o != nil {
			delete(o.dependents, n)
		}
	}
}

// wakeUnblockedOwners requeues the owners in foreground deletion that a dependent
// stopped blocking, by dropping its reference or its blockOwnerDeletion.
func (b *builder) wakeUnblockedOwners(removed []metav1.OwnerReference, changed [][2]metav1.OwnerReference) {
	wake := func(uid types.UID) {
		if o := b.graph.nodes[uid]; o != nil && o.deletingDependents {
			b.attemptToDelete.Add(string(uid))
		}
	}
	for _, ref := range removed {
		if blocks(ref) {
			wake(ref.UID)
		}
	}
	for _, c := range changed {
		if blocks(c[0]) && !blocks(c[1]) {
			wake(c[0].UID)
		}
	}
}

func blocks(ref metav1.OwnerReference) bool {
	return ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}

// processTransitions queues the work a deletion with finalizers asks for: orphaning
// the dependents, or deleting them first (foreground).
func (b *builder) processTransitions(obj metav1.Object, n *node) {
	if !beingDeleted(obj) {
		return
	}
	if hasFinalizer(obj, metav1.FinalizerOrphanDependents) {
		b.attemptToOrphan.Add(string(n.identity.UID))
	}
	if hasFinalizer(obj, metav1.FinalizerDeleteDependents) {
		n.deletingDependents = true
		for d := range n.dependents {
			b.attemptToDelete.Add(string(d.identity.UID))
		}
		b.attemptToDelete.Add(string(n.identity.UID))
	}
}

// diffOwners compares two ownerReferences lists by uid.
func diffOwners(old, cur []metav1.OwnerReference) (added, removed []metav1.OwnerReference, changed [][2]metav1.OwnerReference) {
	byUID := map[types.UID]metav1.OwnerReference{}
	for _, r := range old {
		byUID[r.UID] = r
	}
	for _, r := range cur {
		o, ok := byUID[r.UID]
		if !ok {
			added = append(added, r)
			continue
		}
		if !refEqual(o, r) {
			changed = append(changed, [2]metav1.OwnerReference{o, r})
		}
		delete(byUID, r.UID)
	}
	for _, r := range old {
		if _, ok := byUID[r.UID]; ok {
			removed = append(removed, r)
		}
	}
	return added, removed, changed
}

func refEqual(a, b metav1.OwnerReference) bool {
	boolEq := func(x, y *bool) bool { return (x == nil && y == nil) || (x != nil && y != nil && *x == *y) }
	return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.UID == b.UID &&
		boolEq(a.Controller, b.Controller) && boolEq(a.BlockOwnerDeletion, b.BlockOwnerDeletion)
}
