package controllers

import (
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
)

// EnqueueHandler queues the key of every object added, updated or deleted: the
// handler of a controller's own kind.
func EnqueueHandler(q Queue) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { Enqueue(q, obj) },
		UpdateFunc: func(_, cur interface{}) { Enqueue(q, cur) },
		DeleteFunc: func(obj interface{}) { Enqueue(q, obj) },
	}
}

// OwnedHandlers turn the events of objects of type T that owners of type O control
// (pods of a ReplicaSet, ReplicaSets of a Deployment, …) into syncs of those owners,
// as upstream's addPod/updatePod/deletePod do: an object with a controllerRef wakes
// the owner it names (if that owner still exists with that UID); an orphan wakes every
// owner whose selector matches it, since one of them may adopt it.
type OwnedHandlers[O comparable, T metav1.Object] struct {
	// Resolve returns the owner ref names, or the zero O (nil) when ref is not of
	// the owner's kind or names an owner that is gone or has another UID. ref is
	// never nil.
	Resolve func(namespace string, ref *metav1.OwnerReference) O
	// Matching returns the owners whose selector matches an orphan.
	Matching func(obj T) []O
	// Enqueue queues an owner for a sync.
	Enqueue func(owner O)

	// Created, when set, is told of an added object before its owner is queued
	// (expectations.CreationObserved).
	Created func(owner O, obj T)
	// Deleted, when set, is told of a deleted object before its owner is queued
	// (expectations.DeletionObserved).
	Deleted func(owner O, obj T)
	// Updated, when set, is told of an update of an object its owner still controls,
	// after the owner is queued (e.g. to look again once minReadySeconds have passed).
	Updated func(owner O, old, cur T)

	// DeleteOnTerminating handles an update that gives the object a
	// deletionTimestamp as its deletion, so that the owner may replace it without
	// waiting for its grace period (upstream does so for pods, not for ReplicaSets,
	// and not in the StatefulSet controller, whose pods keep their identity).
	DeleteOnTerminating bool
	// DeleteOldOnRelabel, with DeleteOnTerminating, also handles the old object as
	// deleted when that update changed its labels (upstream's ReplicaSet controller).
	DeleteOldOnRelabel bool
}

// Funcs returns the informer handlers.
func (h *OwnedHandlers[O, T]) Funcs() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{AddFunc: h.Add, UpdateFunc: h.Update, DeleteFunc: h.Delete}
}

// Add handles an added object. One that shows up already being deleted (after a
// relist) counts as deleted, not as the creation its owner waits for.
func (h *OwnedHandlers[O, T]) Add(obj interface{}) {
	o, ok := obj.(T)
	if !ok {
		return
	}
	if o.GetDeletionTimestamp() != nil {
		h.Delete(o)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil {
		owner, ok := h.resolve(o.GetNamespace(), ref)
		if !ok {
			return
		}
		if h.Created != nil {
			h.Created(owner, o)
		}
		h.Enqueue(owner)
		return
	}
	h.enqueueMatching(o)
}

// Update handles an updated object. A resync (same resourceVersion) is ignored; when
// the controllerRef changed, the old owner is queued too.
func (h *OwnedHandlers[O, T]) Update(old, cur interface{}) {
	oldObj, ok1 := old.(T)
	curObj, ok2 := cur.(T)
	if !ok1 || !ok2 || curObj.GetResourceVersion() == oldObj.GetResourceVersion() {
		return
	}
	labelChanged := !reflect.DeepEqual(curObj.GetLabels(), oldObj.GetLabels())
	if h.DeleteOnTerminating && curObj.GetDeletionTimestamp() != nil {
		h.Delete(curObj)
		if h.DeleteOldOnRelabel && labelChanged {
			h.Delete(oldObj)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curObj), metav1.GetControllerOfNoCopy(oldObj)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if owner, ok := h.resolve(oldObj.GetNamespace(), oldRef); ok {
			h.Enqueue(owner)
		}
	}
	if curRef != nil {
		owner, ok := h.resolve(curObj.GetNamespace(), curRef)
		if !ok {
			return
		}
		h.Enqueue(owner)
		if h.Updated != nil {
			h.Updated(owner, oldObj, curObj)
		}
		return
	}
	if labelChanged || refChanged {
		h.enqueueMatching(curObj)
	}
}

// Delete handles a deleted object, or its tombstone when the watch missed the
// deletion. Only the owner named by its controllerRef is queued: an orphan's
// deletion changes nothing for anyone.
func (h *OwnedHandlers[O, T]) Delete(obj interface{}) {
	o, ok := DeletedObject[T](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(o)
	if ref == nil {
		return
	}
	owner, ok := h.resolve(o.GetNamespace(), ref)
	if !ok {
		return
	}
	if h.Deleted != nil {
		h.Deleted(owner, o)
	}
	h.Enqueue(owner)
}

// DeletedObject returns the object of a delete event as a T, taken out of its
// tombstone when the watch missed the deletion; false, with an error logged, when it
// is neither.
func DeletedObject[T any](obj interface{}) (T, bool) {
	o, ok := obj.(T)
	if ok {
		return o, true
	}
	tombstone, ok := obj.(cache.DeletedFinalStateUnknown)
	if !ok {
		utilruntime.HandleError(fmt.Errorf("couldn't get object from tombstone %+v", obj))
		return o, false
	}
	if o, ok = tombstone.Obj.(T); !ok {
		utilruntime.HandleError(fmt.Errorf("tombstone contained object that is not a %T %+v", o, obj))
		return o, false
	}
	return o, true
}

func (h *OwnedHandlers[O, T]) resolve(namespace string, ref *metav1.OwnerReference) (O, bool) {
	var none O
	owner := h.Resolve(namespace, ref)
	return owner, owner != none
}

func (h *OwnedHandlers[O, T]) enqueueMatching(obj T) {
	for _, owner := range h.Matching(obj) {
		h.Enqueue(owner)
	}
}

// BecameAvailableAfter reports, for a pod update, when to look at an owner again: a
// pod that just turned Ready becomes available minReadySeconds later with no event of
// its own, so the owner is queued a second after that.
func BecameAvailableAfter(old, cur *corev1.Pod, minReadySeconds int32) (time.Duration, bool) {
	if minReadySeconds <= 0 || IsPodReady(old) || !IsPodReady(cur) {
		return 0, false
	}
	return time.Duration(minReadySeconds)*time.Second + time.Second, true
}

// Selecting returns the owners whose label selector matches lbls: those that may
// adopt an orphan with these labels. An owner whose selector is empty (it would
// select everything) or invalid is left out.
func Selecting[O any](owners []O, selector func(O) *metav1.LabelSelector, lbls map[string]string) []O {
	var out []O
	for _, o := range owners {
		sel, err := metav1.LabelSelectorAsSelector(selector(o))
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbls)) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// ResolveControllerRef returns the owner ref names, read with get (a lister's Get),
// when ref is of kind and that owner still has ref's UID, not a namesake created
// since; the zero O (nil) otherwise.
func ResolveControllerRef[O interface {
	comparable
	metav1.Object
}](ref *metav1.OwnerReference, kind string, get func(name string) (O, error)) O {
	var none O
	if ref == nil || ref.Kind != kind {
		return none
	}
	owner, err := get(ref.Name)
	if err != nil || owner == none || owner.GetUID() != ref.UID {
		return none
	}
	return owner
}

// EnqueueAfter adds obj's key to q once d has passed.
func EnqueueAfter(q Queue, obj interface{}, d time.Duration) {
	if key, ok := Key(obj); ok {
		q.AddAfter(key, d)
	}
}
