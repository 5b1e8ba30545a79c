package job

import (
	"context"
	"fmt"
	"sort"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// trackJobStatusAndRemoveFinalizers counts finished pods in three steps that
// survive a crash at any point:
//  1. it adds the finished pods to status.uncountedTerminatedPods (or, for
//     Indexed jobs, their index to status.completedIndexes) and writes the status;
//  2. it removes their tracking finalizer;
//  3. it moves the pods whose finalizer is gone from the uncounted lists to the
//     succeeded and failed counters, and finishes the job when it is decided,
//     everything is counted and no pod is terminating.
//
// It handles at most maxUncountedPods pods per sync, to keep the status small.
func (jm *Controller) trackJobStatusAndRemoveFinalizers(ctx context.Context, jc *syncContext, needsFlush bool) error {
	job := jc.job
	indexed := isIndexed(job)
	uncounted := job.Status.UncountedTerminatedPods
	if indexed {
		// Completed indexes are added in order.
		sort.SliceStable(jc.pods, func(i, j int) bool {
			return completionIndex(jc.pods[i].Annotations) < completionIndex(jc.pods[j].Annotations)
		})
	}
	withFinalizer := sets.New[string]()
	for _, p := range jc.pods {
		if uid := string(p.UID); hasTrackingFinalizer(p) && !jc.expectedRmFinalizers.Has(uid) {
			withFinalizer.Insert(uid)
		}
	}
	if cleanUncountedPodsWithoutFinalizers(&job.Status, withFinalizer) {
		needsFlush = true
	}

	var toRemove []*corev1.Pod
	var newSucceededIndexes []int
	reachedMax := false
	for _, p := range jc.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || jc.expectedRmFinalizers.Has(uid) {
			// Counted in an earlier sync.
			continue
		}
		failed := isPodFailed(p, job)
		if !canRemoveFinalizer(jc, p, failed) {
			continue
		}
		toRemove = append(toRemove, p)
		if p.Status.Phase == corev1.PodSucceeded && !jc.uncounted.failed.Has(uid) {
			if indexed {
				// The index is enough to never count a success twice.
				if ix, ok := validIndex(p, *job.Spec.Completions); ok && !jc.prevSucceededIndexes.has(ix) {
					newSucceededIndexes = append(newSucceededIndexes, ix)
					needsFlush = true
				}
			} else if !jc.uncounted.succeeded.Has(uid) {
				needsFlush = true
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
			}
		} else if failed || (jc.finishedCondition != nil && jc.finishedCondition.Type != batchv1.JobSuccessCriteriaMet) {
			// A failing job counts every pod it did not see succeed as failed.
			_, validIx := validIndex(p, ptrDeref(job.Spec.Completions))
			if !jc.uncounted.failed.Has(uid) && (!indexed || validIx) {
				if matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).countFailed {
					needsFlush = true
					uncounted.Failed = append(uncounted.Failed, p.UID)
				}
			}
		}
		if len(newSucceededIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncountedPods {
			// The status and pod updates bring the job back for the rest.
			reachedMax = true
			break
		}
	}
	if indexed {
		jc.succeededIndexes = jc.succeededIndexes.withOrderedIndexes(newSucceededIndexes)
		s := jc.succeededIndexes.String()
		if s != job.Status.CompletedIndexes {
			needsFlush = true
		}
		job.Status.Succeeded = int32(jc.succeededIndexes.total())
		job.Status.CompletedIndexes = s
		var failedStr *string
		if jc.failedIndexes != nil {
			f := jc.failedIndexes.String()
			failedStr = &f
		}
		if !equalStringPtr(job.Status.FailedIndexes, failedStr) {
			job.Status.FailedIndexes = failedStr
			needsFlush = true
		}
	}
	now := jm.now()
	if fc := jc.finishedCondition; fc != nil && fc.Type == batchv1.JobFailureTarget {
		// Record why the job fails before the finalizers let its pods go; it ends
		// with Failed once they are counted.
		job.Status.Conditions = append(job.Status.Conditions, *fc)
		needsFlush = true
		jc.finishedCondition = newCondition(batchv1.JobFailed, corev1.ConditionTrue, fc.Reason, fc.Message, now)
	}
	if fc := jc.finishedCondition; fc != nil && fc.Type == batchv1.JobSuccessCriteriaMet && fc.Status == corev1.ConditionTrue {
		if trueCondition(job, batchv1.JobSuccessCriteriaMet) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *fc)
			needsFlush = true
		}
		jc.finishedCondition = newCondition(batchv1.JobComplete, corev1.ConditionTrue, fc.Reason, fc.Message, now)
	}

	var err error
	if needsFlush, err = jm.flushUncountedAndRemoveFinalizers(ctx, jc, toRemove, withFinalizer, needsFlush); err != nil {
		return err
	}
	finished := !reachedMax && jm.enactJobFinished(ctx, jc)
	if finished {
		needsFlush = true
	}
	if needsFlush {
		if _, err := jm.updateStatus(ctx, jc.job); err != nil {
			return fmt.Errorf("removing uncounted pods from status: %w", err)
		}
		if finished {
			jm.recordJobFinished(jc.job, jc.finishedCondition)
		}
	}
	return nil
}

func ptrDeref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// canRemoveFinalizer: a pod is let go once it succeeded, once the job is decided or
// being deleted, or once it failed, unless (backoffLimitPerIndex) it must wait for
// its replacement to inherit its failure count.
func canRemoveFinalizer(jc *syncContext, pod *corev1.Pod, failed bool) bool {
	if jc.job.DeletionTimestamp != nil || jc.finishedCondition != nil || pod.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if !failed {
		return false
	}
	if hasBackoffLimitPerIndex(jc.job) {
		if ix := completionIndex(pod.Annotations); ix != unknownCompletionIndex {
			if p, ok := jc.podsWithDelayedDeletionPerIndex[ix]; ok && p.UID == pod.UID {
				return false
			}
		}
	}
	return true
}

// flushUncountedAndRemoveFinalizers writes the status with the new uncounted pods,
// removes their finalizers, and counts the pods whose finalizer is gone. It returns
// whether the status still has unwritten changes.
func (jm *Controller) flushUncountedAndRemoveFinalizers(ctx context.Context, jc *syncContext, toRemove []*corev1.Pod, withFinalizer sets.Set[string], needsFlush bool) (bool, error) {
	if needsFlush {
		updated, err := jm.updateStatus(ctx, jc.job)
		if err != nil {
			return needsFlush, fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		jc.job = updated
		jm.backoff.update(jc.newBackoffRecord)
		needsFlush = false
	}
	var rmErr error
	if len(toRemove) > 0 {
		var removed []bool
		removed, rmErr = jm.removeTrackingFinalizers(ctx, jc.key, toRemove)
		for i, p := range toRemove {
			if removed[i] {
				withFinalizer.Delete(string(p.UID))
			}
		}
	}
	if cleanUncountedPodsWithoutFinalizers(&jc.job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil && needsFlush {
		// Keep what progress was made.
		if _, err := jm.updateStatus(ctx, jc.job); err != nil {
			return needsFlush, fmt.Errorf("removing uncounted pods from status: %w", err)
		}
	}
	return needsFlush, rmErr
}

// cleanUncountedPodsWithoutFinalizers moves the uncounted pods that no longer have
// the finalizer into the counters; it reports whether the status changed.
func cleanUncountedPodsWithoutFinalizers(status *batchv1.JobStatus, withFinalizer sets.Set[string]) bool {
	if status.UncountedTerminatedPods == nil {
		status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	u := status.UncountedTerminatedPods
	changed := false
	if keep := filterUIDs(u.Succeeded, withFinalizer); len(keep) != len(u.Succeeded) {
		changed = true
		status.Succeeded += int32(len(u.Succeeded) - len(keep))
		u.Succeeded = keep
	}
	if keep := filterUIDs(u.Failed, withFinalizer); len(keep) != len(u.Failed) {
		changed = true
		status.Failed += int32(len(u.Failed) - len(keep))
		u.Failed = keep
	}
	return changed
}

func filterUIDs(uids []types.UID, include sets.Set[string]) []types.UID {
	var out []types.UID
	for _, uid := range uids {
		if include.Has(string(uid)) {
			out = append(out, uid)
		}
	}
	return out
}

// removeTrackingFinalizers removes the finalizer from pods in parallel; the i-th
// result says whether pods[i] no longer has it (a pod already gone counts).
func (jm *Controller) removeTrackingFinalizers(ctx context.Context, key string, pods []*corev1.Pod) ([]bool, error) {
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	jm.finalizerExpectations.expect(key, uids)
	removed := make([]bool, len(pods))
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for i, p := range pods {
		patch := removeTrackingFinalizerPatch(p)
		if patch == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := jm.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			if err != nil {
				// No update will come for this pod.
				jm.finalizerExpectations.observed(key, string(p.UID))
				if !apierrors.IsNotFound(err) {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("removing tracking finalizer: %w", err)
					}
					mu.Unlock()
					return
				}
			}
			removed[i] = true
		}()
	}
	wg.Wait()
	return removed, firstErr
}

// enactJobFinished sets the final condition (and completionTime) once every pod is
// counted and none is terminating; it reports whether it did.
func (jm *Controller) enactJobFinished(ctx context.Context, jc *syncContext) bool {
	fc := jc.finishedCondition
	if fc == nil {
		return false
	}
	job := jc.job
	if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		klog.FromContext(ctx).V(4).Info("Delaying marking the Job as finished, because there are still uncounted pod(s)", "job", klog.KObj(job), "condition", fc.Type)
		return false
	}
	if jc.terminating > 0 {
		klog.FromContext(ctx).V(4).Info("Delaying marking the Job as finished, because there are still terminating pod(s)", "job", klog.KObj(job), "condition", fc.Type, "count", jc.terminating)
		return false
	}
	job.Status.Conditions, _ = ensureCondition(job.Status.Conditions, fc.Type, fc.Status, fc.Reason, fc.Message, jm.now())
	if fc.Type == batchv1.JobComplete {
		t := fc.LastTransitionTime
		job.Status.CompletionTime = &t
	}
	return true
}

// recordJobFinished records the Completed event, or the failure reason as event.
func (jm *Controller) recordJobFinished(job *batchv1.Job, fc *batchv1.JobCondition) {
	if fc.Type == batchv1.JobComplete {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			jm.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
		}
		jm.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		return
	}
	jm.recorder.Event(job, corev1.EventTypeWarning, fc.Reason, fc.Message)
}

func (jm *Controller) updateStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	return jm.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}

// syncOrphanPod removes the tracking finalizer from a pod no running job counts:
// its job is gone or finished, or the pod was released.
func (jm *Controller) syncOrphanPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pod, err := jm.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ref.Kind != controllerKind.Kind || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
			// Another kind's pod: its finalizer is not ours to remove.
			return nil
		}
		job := jm.resolveControllerRef(pod.Namespace, ref)
		if job != nil && (managedByOther(job) || !isFinished(job)) {
			// Adopted, or counted by another controller.
			return nil
		}
	}
	if patch := removeTrackingFinalizerPatch(pod); patch != nil {
		_, err := jm.client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
