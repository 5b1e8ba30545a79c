package controllers

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/weakmap"
)

// StripManagedFields is an informer transform that drops metadata.managedFields
// before an object enters a cache: no controller reads them, and they are often the
// largest part of an object, so caches of thousands of pods shrink by about half.
func StripManagedFields(obj interface{}) (interface{}, error) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// CacheTransform is the transform of the in-server components' informers: it
// strips managedFields (StripManagedFields) and then lets the informers of
// different components share one copy of each object version (shareObject).
func CacheTransform(obj interface{}) (interface{}, error) {
	obj, err := StripManagedFields(obj)
	if err != nil {
		return obj, err
	}
	return shareObject(obj), nil
}

// shareObject returns the copy of obj's version (same kind, uid and
// resourceVersion, and equal) that another informer of this process already
// holds, and otherwise records obj as that copy.
//
// The scheduler and the controller manager are separate API clients, each with
// its own identity, leader election and informers, as upstream's are; but in
// `skiff server` they run in one process, and each would decode and keep its own
// copy of every Pod and Node: with 5,000 pods, some 25 MB twice. An object
// version is immutable and informer caches are read-only (no component may
// modify what a lister returns), so two informers can hold the same one. The
// table holds weak pointers: a version is forgotten once no cache holds it.
func shareObject(obj interface{}) interface{} {
	switch o := obj.(type) {
	case *corev1.Pod:
		return sharedPods.share(o, &o.ObjectMeta)
	case *corev1.Node:
		return sharedNodes.share(o, &o.ObjectMeta)
	case *appsv1.ReplicaSet:
		return sharedReplicaSets.share(o, &o.ObjectMeta)
	case *corev1.Service:
		return sharedServices.share(o, &o.ObjectMeta)
	case *corev1.Namespace:
		return sharedNamespaces.share(o, &o.ObjectMeta)
	case *corev1.PersistentVolumeClaim:
		return sharedClaims.share(o, &o.ObjectMeta)
	}
	return obj
}

var (
	sharedPods        = newSharedTable[corev1.Pod]()
	sharedNodes       = newSharedTable[corev1.Node]()
	sharedReplicaSets = newSharedTable[appsv1.ReplicaSet]()
	sharedServices    = newSharedTable[corev1.Service]()
	sharedNamespaces  = newSharedTable[corev1.Namespace]()
	sharedClaims      = newSharedTable[corev1.PersistentVolumeClaim]()
)

// objectVersion names one version of one object.
type objectVersion struct {
	uid             types.UID
	resourceVersion string
}

// sharedTable maps the versions of one kind that some informer holds to that
// copy, weakly.
type sharedTable[T any] struct {
	versions *weakmap.Map[objectVersion, T]
}

func newSharedTable[T any]() sharedTable[T] {
	return sharedTable[T]{versions: weakmap.New[objectVersion, T]()}
}

func (t sharedTable[T]) share(obj *T, m *metav1.ObjectMeta) *T {
	if m.UID == "" || m.ResourceVersion == "" {
		return obj
	}
	held := t.versions.Update(objectVersion{uid: m.UID, resourceVersion: m.ResourceVersion}, func(held *T) *T {
		if held == nil {
			return obj
		}
		return held
	})
	// The same uid and resourceVersion need not mean the same content: a watch
	// with a field selector (the scheduler's pods) reports an object that
	// leaves the selection as deleted, with its previous content under the new
	// resourceVersion. So a copy is shared only when it is equal.
	if held != nil && reflect.DeepEqual(held, obj) {
		return held
	}
	return obj
}
