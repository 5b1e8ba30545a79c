package apiserver

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	kruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-k8s/skiff/pkg/weakmap"
)

// The watch cache keeps, besides the current object, every version of it its
// events of the last 75 s or more carry (k8s.io/apiserver's minimum history, not
// configurable): after a rollout of 5,000 pods, each created, bound and then
// marked running, some 15,000 decoded Pods. Consecutive versions of an object
// mostly differ in a few fields; the containers, volumes, tolerations, labels,
// owner references and most managedFields entries are the same. watchCodec lets
// a newly decoded version share those parts with the previous version of the
// same object rather than hold a copy of its own.
//
// This is safe for the same reason the watch cache is: decoded objects on the
// watch path are never modified in place (the cache hands out shallow copies
// that already share every slice and map with the cached object).

// watchCodec is the codec of the etcd3 store's watches (see sharedEtcd): after
// decoding a Pod or a Node it shares the unchanged parts with the last version
// of the same object it decoded. The store's reads and updates decode with the
// plain codec, so nothing it hands to an update is shared.
type watchCodec struct {
	kruntime.Codec
}

func (c watchCodec) Decode(data []byte, defaults *schema.GroupVersionKind, into kruntime.Object) (kruntime.Object, *schema.GroupVersionKind, error) {
	obj, gvk, err := c.Codec.Decode(data, defaults, into)
	if err != nil {
		return obj, gvk, err
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		podVersions.record(o.UID, o, func(prev *corev1.Pod) {
			shareMeta(&o.ObjectMeta, &prev.ObjectMeta)
			shareFields(reflect.ValueOf(&o.Spec).Elem(), reflect.ValueOf(&prev.Spec).Elem())
			shareFields(reflect.ValueOf(&o.Status).Elem(), reflect.ValueOf(&prev.Status).Elem())
		})
	case *corev1.Node:
		nodeVersions.record(o.UID, o, func(prev *corev1.Node) {
			shareMeta(&o.ObjectMeta, &prev.ObjectMeta)
			shareFields(reflect.ValueOf(&o.Spec).Elem(), reflect.ValueOf(&prev.Spec).Elem())
			shareFields(reflect.ValueOf(&o.Status).Elem(), reflect.ValueOf(&prev.Status).Elem())
		})
	}
	return obj, gvk, nil
}

var (
	podVersions  = newLastVersions[corev1.Pod]()
	nodeVersions = newLastVersions[corev1.Node]()
)

// shareMeta shares the metadata that did not change, and each managedFields
// entry's fields that did not (an entry's timestamp changes more often than its
// fields).
func shareMeta(cur, prev *metav1.ObjectMeta) {
	shareIfEqual(&cur.Labels, prev.Labels)
	shareIfEqual(&cur.Annotations, prev.Annotations)
	shareIfEqual(&cur.OwnerReferences, prev.OwnerReferences)
	shareIfEqual(&cur.Finalizers, prev.Finalizers)
	if shareIfEqual(&cur.ManagedFields, prev.ManagedFields) {
		return
	}
	for i := range cur.ManagedFields {
		e := &cur.ManagedFields[i]
		for j := range prev.ManagedFields {
			p := &prev.ManagedFields[j]
			if e.Manager == p.Manager && e.Operation == p.Operation && e.Subresource == p.Subresource && e.FieldsV1 != nil && p.FieldsV1 != nil {
				shareIfEqual(&e.FieldsV1, p.FieldsV1)
				break
			}
		}
	}
}

// shareFields shares each slice, map and pointer field of the struct cur that
// equals the same field of prev.
func shareFields(cur, prev reflect.Value) {
	for i := range cur.NumField() {
		f := cur.Field(i)
		switch f.Kind() {
		case reflect.Slice, reflect.Map, reflect.Pointer:
			if f.CanSet() && !f.IsNil() && !prev.Field(i).IsNil() && f.Pointer() != prev.Field(i).Pointer() && reflect.DeepEqual(f.Interface(), prev.Field(i).Interface()) {
				f.Set(prev.Field(i))
			}
		}
	}
}

// shareIfEqual points *cur at prev when they are equal (and not nil), and
// reports whether it did.
func shareIfEqual[T any](cur *T, prev T) bool {
	v, p := reflect.ValueOf(cur).Elem(), reflect.ValueOf(prev)
	if v.IsNil() || p.IsNil() || !reflect.DeepEqual(*cur, prev) {
		return false
	}
	*cur = prev
	return true
}

// lastVersions holds, weakly, the last decoded version of each object of a kind.
type lastVersions[T any] struct {
	last *weakmap.Map[types.UID, T]
}

func newLastVersions[T any]() lastVersions[T] {
	return lastVersions[T]{last: weakmap.New[types.UID, T]()}
}

// record runs share with the last version of uid recorded, if any is left, and
// then records obj as the last version. A version is visible to the next one
// only once share has finished with it (watch events are decoded by several
// goroutines).
func (l lastVersions[T]) record(uid types.UID, obj *T, share func(prev *T)) {
	if uid == "" {
		return
	}
	l.last.Update(uid, func(prev *T) *T {
		if prev != nil && prev != obj {
			share(prev)
		}
		return obj
	})
}
