package garbagecollector

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"
)

func isConflict(err error) bool { return apierrors.IsConflict(err) }

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// attemptToDelete decides the fate of one node: a virtual owner is checked for
// existence, an owner in foreground deletion waits for its blocking dependents,
// and a dependent without any existing owner is deleted.
func (gc *GarbageCollector) attemptToDelete(ctx context.Context, uid types.UID) error {
	v, ok := gc.builder.graph.view(uid)
	if !ok {
		return nil
	}
	latest, err := gc.get(ctx, v.identity)
	switch {
	case apierrors.IsNotFound(err) || errors.Is(err, errInvalidNamespace):
		// The graph may hold an owner that never existed, or an object whose
		// delete the informer has not shown yet: drop it so its dependents are
		// looked at.
		gc.builder.changes.Add(&event{typ: deleteEvent, identity: v.identity, ofVirtual: v.virtual})
		return nil
	case err != nil:
		return err
	}
	if latest.UID != uid {
		gc.builder.changes.Add(&event{typ: deleteEvent, identity: v.identity, ofVirtual: v.virtual})
		return nil
	}
	if v.virtual {
		return errNotObserved
	}
	if latest.DeletionTimestamp != nil && !v.deletingDependents {
		return nil
	}
	if v.deletingDependents {
		return gc.processDeletingDependents(ctx, v, latest)
	}
	refs := latest.OwnerReferences
	if len(refs) == 0 {
		return nil
	}
	solid, dangling, waiting, err := gc.classify(ctx, v.identity, refs)
	if err != nil {
		return err
	}
	logger := klog.FromContext(ctx)
	switch {
	case len(solid) != 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		// Some owner keeps the object: only the references to the others go.
		drop := append(uidsOf(dangling), uidsOf(waiting)...)
		logger.V(2).Info("Removing dangling and waiting owner references", "object", v.identity, "owners", drop)
		return gc.removeOwnerRefs(ctx, v.identity, latest, drop...)
	case len(waiting) != 0 && len(v.dependents) != 0:
		// An owner waits for this object, which has dependents of its own: delete
		// it in the foreground too, so the owner waits for the whole chain.
		logger.V(2).Info("Deleting object in the foreground", "object", v.identity)
		return gc.deleteObject(ctx, v.identity, latest, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(latest, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(latest, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		logger.V(2).Info("Deleting object whose owners are gone", "object", v.identity, "propagationPolicy", policy)
		return gc.deleteObject(ctx, v.identity, latest, policy)
	}
}

// classify sorts an object's owner references: solid owners exist and are not
// deleting their dependents, dangling ones are gone (or never resolvable),
// waiting ones are in foreground deletion.
func (gc *GarbageCollector) classify(ctx context.Context, item objectReference, refs []metav1.OwnerReference) (solid, dangling, waiting []metav1.OwnerReference, err error) {
	var errs []error
	for _, ref := range refs {
		owner, err := gc.get(ctx, objectReference{OwnerReference: ref, Namespace: item.Namespace})
		switch {
		case errors.Is(err, errInvalidNamespace):
			gc.reportInvalidNamespace(item, ref)
			dangling = append(dangling, ref)
		case apierrors.IsNotFound(err):
			dangling = append(dangling, ref)
		case err != nil:
			errs = append(errs, err)
		case owner.UID != ref.UID:
			dangling = append(dangling, ref)
		case owner.DeletionTimestamp != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, ref)
		default:
			solid = append(solid, ref)
		}
	}
	return solid, dangling, waiting, utilerrors.NewAggregate(errs)
}

// processDeletingDependents removes the foregroundDeletion finalizer of an owner
// once no dependent blocks it, and otherwise asks for the blocking dependents to
// be deleted.
func (gc *GarbageCollector) processDeletingDependents(ctx context.Context, v view, latest *metav1.PartialObjectMetadata) error {
	if len(v.blocking) == 0 {
		klog.FromContext(ctx).V(2).Info("Removing the foregroundDeletion finalizer: no dependent blocks", "object", v.identity)
		return gc.removeFinalizer(ctx, v.identity, latest, metav1.FinalizerDeleteDependents)
	}
	for _, d := range v.blocking {
		if !gc.builder.graph.isDeletingDependents(d.UID) {
			gc.builder.attemptToDelete.Add(string(d.UID))
		}
	}
	return nil
}

// attemptToOrphan removes the references to an owner deleted with orphaning from
// its dependents, then its orphan finalizer.
func (gc *GarbageCollector) attemptToOrphan(ctx context.Context, uid types.UID) error {
	v, ok := gc.builder.graph.view(uid)
	if !ok || v.virtual {
		return nil
	}
	var errs []error
	for _, d := range v.dependents {
		latest, err := gc.get(ctx, d)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if latest.UID != d.UID {
			continue
		}
		if err := gc.removeOwnerRefs(ctx, d, latest, uid); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return utilerrors.NewAggregate(errs)
	}
	owner, err := gc.get(ctx, v.identity)
	if err != nil {
		return ignoreNotFound(err)
	}
	if owner.UID != uid {
		return nil
	}
	klog.FromContext(ctx).V(2).Info("Orphaned dependents; removing the orphan finalizer", "object", v.identity, "dependents", len(v.dependents))
	return gc.removeFinalizer(ctx, v.identity, owner, metav1.FinalizerOrphanDependents)
}

func uidsOf(refs []metav1.OwnerReference) []types.UID {
	out := make([]types.UID, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.UID)
	}
	return out
}
