package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

// errInvalidNamespace is a reference from a cluster-scoped dependent to a
// namespaced owner, which can never resolve.
var errInvalidNamespace = fmt.Errorf("cluster-scoped object references a namespaced owner")

// resource resolves an object's coordinates to its metadata client.
func (gc *GarbageCollector) resource(id objectReference) (metadata.ResourceInterface, error) {
	gv, err := schema.ParseGroupVersion(id.APIVersion)
	if err != nil {
		return nil, err
	}
	m, err := gc.mapper.RESTMapping(gv.WithKind(id.Kind).GroupKind(), gv.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return gc.c.Metadata.Resource(m.Resource), nil
	}
	if id.Namespace == "" {
		return nil, errInvalidNamespace
	}
	return gc.c.Metadata.Resource(m.Resource).Namespace(id.Namespace), nil
}

// get reads the object live, never from a cache.
func (gc *GarbageCollector) get(ctx context.Context, id objectReference) (*metav1.PartialObjectMetadata, error) {
	r, err := gc.resource(id)
	if err != nil {
		return nil, err
	}
	return r.Get(ctx, id.Name, metav1.GetOptions{})
}

// deleteObject deletes the object at the resourceVersion its decision was made on.
// When it changed meanwhile but its ownerReferences did not, the decision still
// holds and the delete is retried on the uid alone (as upstream does).
func (gc *GarbageCollector) deleteObject(ctx context.Context, id objectReference, latest *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	r, err := gc.resource(id)
	if err != nil {
		return err
	}
	uid, rv := latest.UID, latest.ResourceVersion
	opts := metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}}
	err = r.Delete(ctx, id.Name, opts)
	if !isConflict(err) {
		return ignoreNotFound(err)
	}
	fresh, err := r.Get(ctx, id.Name, metav1.GetOptions{})
	if err != nil {
		return ignoreNotFound(err)
	}
	if fresh.UID != uid || !slices.EqualFunc(fresh.OwnerReferences, latest.OwnerReferences, refEqual) {
		return fmt.Errorf("%s changed while deciding to delete it", id)
	}
	opts.Preconditions.ResourceVersion = nil
	return ignoreNotFound(r.Delete(ctx, id.Name, opts))
}

type metadataPatch struct {
	Metadata struct {
		OwnerReferences *[]metav1.OwnerReference `json:"ownerReferences,omitempty"`
		Finalizers      *[]string                `json:"finalizers,omitempty"`
		UID             types.UID                `json:"uid"`
		ResourceVersion string                   `json:"resourceVersion"`
	} `json:"metadata"`
}

// patch writes a JSON merge patch (served by every resource, custom ones
// included) guarded by the object's uid and resourceVersion.
func (gc *GarbageCollector) patch(ctx context.Context, id objectReference, latest *metav1.PartialObjectMetadata, fill func(*metadataPatch)) error {
	r, err := gc.resource(id)
	if err != nil {
		return err
	}
	var p metadataPatch
	p.Metadata.UID, p.Metadata.ResourceVersion = latest.UID, latest.ResourceVersion
	fill(&p)
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = r.Patch(ctx, id.Name, types.MergePatchType, b, metav1.PatchOptions{})
	return ignoreNotFound(err)
}

// removeOwnerRefs drops the references to uids from the object.
func (gc *GarbageCollector) removeOwnerRefs(ctx context.Context, id objectReference, latest *metav1.PartialObjectMetadata, uids ...types.UID) error {
	refs := []metav1.OwnerReference{}
	for _, r := range latest.OwnerReferences {
		if !slices.Contains(uids, r.UID) {
			refs = append(refs, r)
		}
	}
	if len(refs) == len(latest.OwnerReferences) {
		return nil
	}
	return gc.patch(ctx, id, latest, func(p *metadataPatch) { p.Metadata.OwnerReferences = &refs })
}

// removeFinalizer drops finalizer f from the object.
func (gc *GarbageCollector) removeFinalizer(ctx context.Context, id objectReference, latest *metav1.PartialObjectMetadata, f string) error {
	if !slices.Contains(latest.Finalizers, f) {
		return nil
	}
	fs := []string{}
	for _, x := range latest.Finalizers {
		if x != f {
			fs = append(fs, x)
		}
	}
	return gc.patch(ctx, id, latest, func(p *metadataPatch) { p.Metadata.Finalizers = &fs })
}

// reportInvalidNamespace records upstream's warning on a dependent whose owner
// reference can never resolve.
func (gc *GarbageCollector) reportInvalidNamespace(item objectReference, ref metav1.OwnerReference) {
	gc.recorder.Eventf(&corev1.ObjectReference{APIVersion: item.APIVersion, Kind: item.Kind, Namespace: item.Namespace, Name: item.Name, UID: item.UID},
		corev1.EventTypeWarning, "OwnerRefInvalidNamespace",
		"ownerRef [%s/%s, namespace: %s, name: %s, uid: %s] does not exist in namespace %q",
		ref.APIVersion, ref.Kind, item.Namespace, ref.Name, ref.UID, item.Namespace)
}
