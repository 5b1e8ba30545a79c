package controllers

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/util/retry"
)

// ControllerRevisionHashLabel labels a ControllerRevision with the hash of its data
// (upstream's history.ControllerRevisionHashLabel).
const ControllerRevisionHashLabel = "controller.kubernetes.io/hash"

// DeepHashObject writes a deterministic dump of obj to hasher, following pointers,
// as upstream's hashutil.DeepHashObject does, so that equal objects hash equally.
func DeepHashObject(hasher hash.Hash, obj interface{}) {
	hasher.Reset()
	fmt.Fprintf(hasher, "%v", dump.ForHash(obj))
}

// ComputeHash is the hash of a pod template and a collision count, as upstream's
// controller.ComputeHash: the value of pod-template-hash and of a DaemonSet's
// controller-revision-hash. Equal templates give the hashes upstream gives.
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	hasher := fnv.New32a()
	DeepHashObject(hasher, *template)
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		hasher.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(hasher.Sum32()))
}

// HashControllerRevision hashes a revision's data and, when probe is set, the
// collision count, as upstream's history.HashControllerRevision.
func HashControllerRevision(revision *appsv1.ControllerRevision, probe *int32) string {
	hf := fnv.New32()
	if len(revision.Data.Raw) > 0 {
		hf.Write(revision.Data.Raw)
	}
	if revision.Data.Object != nil {
		DeepHashObject(hf, revision.Data.Object)
	}
	if probe != nil {
		hf.Write([]byte(strconv.FormatInt(int64(*probe), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(hf.Sum32()))
}

// ControllerRevisionName is prefix-hash, the prefix cut so the name fits 253 bytes.
func ControllerRevisionName(prefix, hash string) string {
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return prefix + "-" + hash
}

// NewControllerRevision returns a revision of parent holding data, labelled with
// templateLabels and the hash of its data, and named after parent and that hash.
func NewControllerRevision(parent metav1.Object, gvk schema.GroupVersionKind, templateLabels map[string]string,
	data runtime.RawExtension, revision int64, collisionCount *int32) *appsv1.ControllerRevision {
	labelMap := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		labelMap[k] = v
	}
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       parent.GetNamespace(),
			Labels:          labelMap,
			OwnerReferences: []metav1.OwnerReference{*NewControllerRef(parent, gvk)},
		},
		Data:     data,
		Revision: revision,
	}
	h := HashControllerRevision(cr, collisionCount)
	cr.Name = ControllerRevisionName(parent.GetName(), h)
	cr.Labels[ControllerRevisionHashLabel] = h
	return cr
}

// TemplatePatch is the revision data StatefulSets and DaemonSets record, as upstream
// and kubectl's `rollout undo` expect it: a strategic merge patch that replaces
// spec.template with the one in objJSON (the owner's JSON encoding).
func TemplatePatch(objJSON []byte) ([]byte, error) {
	var raw map[string]interface{}
	if err := json.Unmarshal(objJSON, &raw); err != nil {
		return nil, err
	}
	spec, _ := raw["spec"].(map[string]interface{})
	template, ok := spec["template"].(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("object has no spec.template")
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": template}})
}

// SortControllerRevisions sorts revisions by Revision, then creation time, then name.
func SortControllerRevisions(revisions []*appsv1.ControllerRevision) {
	sort.SliceStable(revisions, func(i, j int) bool {
		a, b := revisions[i], revisions[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}

// EqualRevision reports whether two revisions hold the same data (both nil counts).
// The hash label is not compared: it also covers the collision count.
func EqualRevision(lhs, rhs *appsv1.ControllerRevision) bool {
	if lhs == nil || rhs == nil {
		return lhs == rhs
	}
	return bytes.Equal(lhs.Data.Raw, rhs.Data.Raw) && apiequality.Semantic.DeepEqual(lhs.Data.Object, rhs.Data.Object)
}

// FindEqualRevisions returns the revisions equal to needle, in their order.
func FindEqualRevisions(revisions []*appsv1.ControllerRevision, needle *appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	var eq []*appsv1.ControllerRevision
	for _, r := range revisions {
		if EqualRevision(r, needle) {
			eq = append(eq, r)
		}
	}
	return eq
}

// History reads revisions from the informer's cache and writes them through the API.
type History struct {
	Client kubernetes.Interface
	Lister appslisters.ControllerRevisionLister
}

// List returns the revisions in parent's namespace that match selector and are
// owned by parent or by no controller at all (orphans parent may adopt).
func (h History) List(parent metav1.Object, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := h.Lister.ControllerRevisions(parent.GetNamespace()).List(selector)
	if err != nil {
		return nil, err
	}
	var owned []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOfNoCopy(r); ref == nil || ref.UID == parent.GetUID() {
			owned = append(owned, r)
		}
	}
	return owned, nil
}

// Create creates revision for parent. On a name collision with different data it
// bumps *collisionCount and retries under the new name; an existing revision with
// the same data is returned as is.
func (h History) Create(ctx context.Context, parent metav1.Object, revision *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	if collisionCount == nil {
		return nil, fmt.Errorf("collisionCount should not be nil")
	}
	clone := revision.DeepCopy()
	clone.Namespace = parent.GetNamespace()
	revs := h.Client.AppsV1().ControllerRevisions(clone.Namespace)
	for {
		hash := HashControllerRevision(revision, collisionCount)
		clone.Name = ControllerRevisionName(parent.GetName(), hash)
		clone.Labels[ControllerRevisionHashLabel] = hash
		created, err := revs.Create(ctx, clone, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return created, err
		}
		exists, err := revs.Get(ctx, clone.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if bytes.Equal(exists.Data.Raw, clone.Data.Raw) {
			return exists, nil
		}
		*collisionCount++
	}
}

// UpdateRevision sets revision's Revision number to newRevision, retrying conflicts.
func (h History) UpdateRevision(ctx context.Context, revision *appsv1.ControllerRevision, newRevision int64) (*appsv1.ControllerRevision, error) {
	clone := revision.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if clone.Revision == newRevision {
			return nil
		}
		clone.Revision = newRevision
		updated, err := h.Client.AppsV1().ControllerRevisions(clone.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
		if err == nil {
			clone = updated
			return nil
		}
		if fresh, getErr := h.Lister.ControllerRevisions(clone.Namespace).Get(clone.Name); getErr == nil {
			clone = fresh.DeepCopy()
		}
		return err
	})
	return clone, err
}

// Delete deletes revision; one already gone is not an error.
func (h History) Delete(ctx context.Context, revision *appsv1.ControllerRevision) error {
	err := h.Client.AppsV1().ControllerRevisions(revision.Namespace).Delete(ctx, revision.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// Claim adopts the orphan revisions m's selector matches and releases the owned
// ones it no longer matches, returning those the owner keeps.
func (h History) Claim(ctx context.Context, m *RefManager, revisions []*appsv1.ControllerRevision) ([]*appsv1.ControllerRevision, error) {
	return ClaimAll(ctx, m, revisions, func(ctx context.Context, ns, name string, p []byte) error {
		_, err := h.Client.AppsV1().ControllerRevisions(ns).Patch(ctx, name, types.StrategicMergePatchType, p, metav1.PatchOptions{})
		return err
	})
}

// TruncateHistory deletes the oldest revisions that are not live until at most limit
// non-live revisions remain (revisions must be sorted oldest first). A negative
// limit keeps everything.
func (h History) TruncateHistory(ctx context.Context, revisions []*appsv1.ControllerRevision, live func(*appsv1.ControllerRevision) bool, limit int) error {
	if limit < 0 {
		return nil
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revisions {
		if !live(r) {
			old = append(old, r)
		}
	}
	for i := 0; i < len(old)-limit; i++ {
		if err := h.Delete(ctx, old[i]); err != nil {
			return fmt.Errorf("delete ControllerRevision %s/%s: %w", old[i].Namespace, old[i].Name, err)
		}
	}
	return nil
}
