package garbagecollector

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func obj(uid, name string, finalizers []string, deleting bool, owners ...metav1.OwnerReference) *event {
	m := &metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(uid), Finalizers: finalizers, OwnerReferences: owners}
	if deleting {
		now := metav1.Now()
		m.DeletionTimestamp = &now
	}
	return &event{typ: addEvent, obj: m, identity: objectReference{Namespace: "ns",
		OwnerReference: metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: name, UID: types.UID(uid)}}}
}

func ref(uid string, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "o-" + uid, UID: types.UID(uid), BlockOwnerDeletion: &block}
}

// drain empties q and returns what it held.
func drain(b *builder, orphan bool) map[string]bool {
	q := b.attemptToDelete
	if orphan {
		q = b.attemptToOrphan
	}
	out := map[string]bool{}
	for q.Len() > 0 {
		k, _ := q.Get()
		out[k] = true
		q.Done(k)
		q.Forget(k)
	}
	return out
}

func TestGraphVirtualOwnerThenObserved(t *testing.T) {
	b := newBuilder()
	b.process(obj("dep", "dep", nil, false, ref("owner", true)))
	if got := drain(b, false); !got["owner"] {
		t.Fatalf("a virtual owner should be checked: %v", got)
	}
	v, _ := b.graph.view("owner")
	if !v.virtual || len(v.blocking) != 1 {
		t.Fatalf("virtual owner view %+v", v)
	}
	b.process(obj("owner", "o-owner", nil, false))
	if v, _ := b.graph.view("owner"); v.virtual {
		t.Fatal("observed owner is still virtual")
	}
	del := obj("owner", "o-owner", nil, false)
	del.typ = deleteEvent
	b.process(del)
	if got := drain(b, false); !got["dep"] {
		t.Fatalf("dependent of a deleted owner should be attempted: %v", got)
	}
}

func TestGraphForegroundAndOrphan(t *testing.T) {
	b := newBuilder()
	b.process(obj("owner", "o-owner", nil, false))
	b.process(obj("d1", "d1", nil, false, ref("owner", true)))
	b.process(obj("d2", "d2", nil, false, ref("owner", false)))
	drain(b, false)
	b.process(obj("owner", "o-owner", []string{metav1.FinalizerDeleteDependents}, true))
	if got := drain(b, false); !got["d1"] || !got["d2"] || !got["owner"] {
		t.Fatalf("foreground deletion should attempt the dependents and the owner: %v", got)
	}
	// d1 dropping its blocking reference wakes the waiting owner.
	b.process(obj("d1", "d1", nil, false))
	if got := drain(b, false); !got["owner"] {
		t.Fatalf("unblocked owner not requeued: %v", got)
	}
	if v, _ := b.graph.view("owner"); len(v.blocking) != 0 || len(v.dependents) != 1 {
		t.Fatalf("owner view after unblocking: %+v", v)
	}

	b.process(obj("o2", "o-o2", []string{metav1.FinalizerOrphanDependents}, true))
	if got := drain(b, true); !got["o2"] {
		t.Fatalf("orphan finalizer should queue the owner for orphaning: %v", got)
	}
}

func TestDiffOwners(t *testing.T) {
	a, c := ref("a", true), ref("c", false)
	added, removed, changed := diffOwners([]metav1.OwnerReference{a, ref("b", true)}, []metav1.OwnerReference{ref("a", false), c})
	if len(added) != 1 || added[0].UID != "c" || len(removed) != 1 || removed[0].UID != "b" || len(changed) != 1 || changed[0][0].UID != "a" {
		t.Fatalf("added %v removed %v changed %v", added, removed, changed)
	}
}
