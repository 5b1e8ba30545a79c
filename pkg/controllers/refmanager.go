package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// OwnerObject is an object that owns others: a Deployment, a ReplicaSet, a Job, …
type OwnerObject interface {
	runtime.Object
	metav1.Object
}

// NewControllerRef is the ownerReference a controller puts on what it creates.
func NewControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
		Name: owner.GetName(), UID: owner.GetUID(), Controller: &t, BlockOwnerDeletion: &t}
}

// RefManager adopts the orphans an owner's selector matches and releases the objects
// it owns that its selector no longer matches, as upstream's ControllerRefManager.
type RefManager struct {
	Owner    metav1.Object
	GVK      schema.GroupVersionKind
	Selector labels.Selector
	// CanAdopt is asked once, before the first adoption: it should re-read the owner
	// from the API (not the cache) and fail when it is being deleted, so that a stale
	// cache never adopts into an owner that is going away.
	CanAdopt func(ctx context.Context) error

	once     sync.Once
	adoptErr error
}

// Patcher writes a patch to one object of the claimed kind.
type Patcher func(ctx context.Context, namespace, name string, patch []byte) error

// Claim decides whether obj belongs to the owner, adopting or releasing it through
// patch as needed; it returns true when the owner should count obj as its own.
func (m *RefManager) Claim(ctx context.Context, obj metav1.Object, patch Patcher) (bool, error) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref != nil {
		if ref.UID != m.Owner.GetUID() {
			return false, nil
		}
		if m.Selector.Matches(labels.Set(obj.GetLabels())) {
			return true, nil
		}
		if m.Owner.GetDeletionTimestamp() != nil {
			return false, nil
		}
		err := patch(ctx, obj.GetNamespace(), obj.GetName(), ReleasePatch(m.Owner.GetUID(), obj.GetUID()))
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			return false, err
		}
		return false, nil
	}
	if m.Owner.GetDeletionTimestamp() != nil || !m.Selector.Matches(labels.Set(obj.GetLabels())) ||
		obj.GetDeletionTimestamp() != nil || obj.GetNamespace() != m.Owner.GetNamespace() {
		return false, nil
	}
	if m.CanAdopt != nil {
		m.once.Do(func() { m.adoptErr = m.CanAdopt(ctx) })
		if m.adoptErr != nil {
			return false, fmt.Errorf("can't adopt %s %s/%s: %w", m.GVK.Kind, obj.GetNamespace(), obj.GetName(), m.adoptErr)
		}
	}
	if err := patch(ctx, obj.GetNamespace(), obj.GetName(), AdoptPatch(m.Owner, m.GVK, obj.GetUID())); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// ClaimPods claims each pod in pods, returning the ones the owner keeps.
func (m *RefManager) ClaimPods(ctx context.Context, client kubernetes.Interface, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	return ClaimAll(ctx, m, pods, func(ctx context.Context, ns, name string, p []byte) error {
		_, err := client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, p, metav1.PatchOptions{})
		return err
	})
}

// ClaimAll claims each of objs through patch, returning the ones the owner keeps.
// A failed claim does not stop the others (as upstream's ClaimPods and
// ClaimReplicaSets); the first error is returned.
func ClaimAll[T metav1.Object](ctx context.Context, m *RefManager, objs []T, patch Patcher) ([]T, error) {
	var out []T
	var errs []error
	for _, o := range objs {
		ok, err := m.Claim(ctx, o, patch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			out = append(out, o)
		}
	}
	if len(errs) > 0 {
		return out, errs[0]
	}
	return out, nil
}

// RecheckDeletionTimestamp returns a CanAdopt that re-reads the owner with get and
// refuses when it has a new UID or is being deleted.
func RecheckDeletionTimestamp(uid types.UID, get func(ctx context.Context) (metav1.Object, error)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return err
		}
		if fresh.GetUID() != uid {
			return fmt.Errorf("original object is gone: got uid %v, wanted %v", fresh.GetUID(), uid)
		}
		if fresh.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%v/%v has just been deleted at %v", fresh.GetNamespace(), fresh.GetName(), fresh.GetDeletionTimestamp())
		}
		return nil
	}
}

type patchMeta struct {
	OwnerReferences []map[string]interface{} `json:"ownerReferences"`
	UID             types.UID                `json:"uid"`
}

// AdoptPatch is the strategic merge patch that sets owner as obj's controller; the
// uid precondition makes it fail on an object re-created under the same name.
func AdoptPatch(owner metav1.Object, gvk schema.GroupVersionKind, objUID types.UID) []byte {
	ref := map[string]interface{}{"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind,
		"name": owner.GetName(), "uid": owner.GetUID(), "controller": true, "blockOwnerDeletion": true}
	b, _ := json.Marshal(map[string]patchMeta{"metadata": {OwnerReferences: []map[string]interface{}{ref}, UID: objUID}})
	return b
}

// ReleasePatch is the strategic merge patch that removes ownerUID from obj's
// ownerReferences.
func ReleasePatch(ownerUID, objUID types.UID) []byte {
	ref := map[string]interface{}{"$patch": "delete", "uid": ownerUID}
	b, _ := json.Marshal(map[string]patchMeta{"metadata": {OwnerReferences: []map[string]interface{}{ref}, UID: objUID}})
	return b
}
