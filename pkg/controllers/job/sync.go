package job

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// syncContext is what one sync of a job learns and decides.
type syncContext struct {
	key  string
	job  *batchv1.Job
	pods []*corev1.Pod
	// finishedCondition is the condition the job will finish with, once its pods
	// are counted and none is terminating.
	finishedCondition *batchv1.JobCondition
	activePods        []*corev1.Pod
	succeeded, failed int32
	// prevSucceededIndexes is status.completedIndexes; succeededIndexes adds the
	// succeeded pods not yet counted.
	prevSucceededIndexes, succeededIndexes orderedIntervals
	failedIndexes                          *orderedIntervals
	newBackoffRecord                       backoffRecord
	expectedRmFinalizers                   sets.Set[string]
	uncounted                              uncountedPods
	podsWithDelayedDeletionPerIndex        map[int]*corev1.Pod
	terminating                            int32
	ready                                  int32
}

// uncountedPods are the UIDs in status.uncountedTerminatedPods.
type uncountedPods struct{ succeeded, failed sets.Set[string] }

func newUncountedPods(in batchv1.UncountedTerminatedPods) uncountedPods {
	u := uncountedPods{succeeded: sets.New[string](), failed: sets.New[string]()}
	for _, uid := range in.Succeeded {
		u.succeeded.Insert(string(uid))
	}
	for _, uid := range in.Failed {
		u.failed.Insert(string(uid))
	}
	return u
}

// validPods returns the pods not yet counted (they have the finalizer, are not in
// skip and not being un-finalized) and, for Indexed jobs, with a valid index.
func (jc *syncContext) validPods(skip sets.Set[string]) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range jc.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || skip.Has(uid) || jc.expectedRmFinalizers.Has(uid) {
			continue
		}
		if isIndexed(jc.job) {
			if _, ok := validIndex(p, *jc.job.Spec.Completions); !ok {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// newFinishedPods are the succeeded and failed pods not yet counted.
func (jc *syncContext) newFinishedPods() (succeeded, failed []*corev1.Pod) {
	for _, p := range jc.validPods(jc.uncounted.succeeded) {
		if p.Status.Phase == corev1.PodSucceeded {
			succeeded = append(succeeded, p)
		}
	}
	for _, p := range jc.validPods(jc.uncounted.failed) {
		if isPodFailed(p, jc.job) {
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// syncJob reconciles one job with its pods. It does nothing while the job's earlier
// pod creations and deletions are not yet in the cache, and nothing to a finished job.
func (jm *Controller) syncJob(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	shared, err := jm.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("Job has been deleted", "key", key)
		jm.expectations.Delete(key)
		jm.finalizerExpectations.delete(key)
		jm.backoff.remove(key)
		return nil
	}
	if err != nil {
		return err
	}
	if managedByOther(shared) {
		return nil
	}
	job := shared.DeepCopy()
	if isFinished(job) {
		jm.backoff.remove(key)
		return nil
	}
	if m := job.Spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		jm.recorder.Event(job, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Read the expectations before the pods: a pod that lands in the cache after
	// this only defers the sync.
	satisfied := jm.expectations.Satisfied(key)
	pods, err := jm.podsForJob(ctx, job)
	if err != nil {
		return err
	}
	now := jm.now()
	jc := &syncContext{
		key:                  key,
		job:                  job,
		pods:                 pods,
		activePods:           controllers.FilterActivePods(pods),
		uncounted:            newUncountedPods(*job.Status.UncountedTerminatedPods),
		expectedRmFinalizers: jm.finalizerExpectations.get(key),
		terminating:          countTerminating(pods),
	}
	jc.ready = countReady(jc.activePods)
	active := int32(len(jc.activePods))
	newSucceeded, newFailed := jc.newFinishedPods()
	jc.succeeded = job.Status.Succeeded + int32(len(newSucceeded)) + int32(jc.uncounted.succeeded.Len())
	jc.failed = job.Status.Failed + int32(countedFailures(job, newFailed)) + int32(jc.uncounted.failed.Len())

	if job.Status.StartTime == nil && !isSuspended(job) {
		t := metav1.NewTime(now)
		job.Status.StartTime = &t
	}
	jc.newBackoffRecord = jm.backoff.newRecord(key, newSucceeded, newFailed)

	jc.finishedCondition = trueCondition(job, batchv1.JobSuccessCriteriaMet)
	// Once success is decided, the pod failure policy no longer applies.
	if jc.finishedCondition == nil {
		if ft := trueCondition(job, batchv1.JobFailureTarget); ft != nil {
			jc.finishedCondition = newCondition(batchv1.JobFailed, corev1.ConditionTrue, ft.Reason, ft.Message, now)
		} else if msg := failJobMessage(job, pods); msg != nil {
			// FailureTarget records why before the finalizers let the pods go.
			jc.finishedCondition = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonPodFailurePolicy, *msg, now)
		}
	}
	if jc.finishedCondition == nil {
		switch {
		case jc.failed > *job.Spec.BackoffLimit || pastBackoffLimitOnFailure(job, pods):
			jc.finishedCondition = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", now)
		case jm.pastActiveDeadline(job):
			jc.finishedCondition = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", now)
		case job.Spec.ActiveDeadlineSeconds != nil && !isSuspended(job):
			next := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - now.Sub(job.Status.StartTime.Time)
			logger.V(2).Info("Job has activeDeadlineSeconds configuration. Will sync this job again", "key", key, "nextSyncIn", next)
			jm.queue.AddAfter(key, next)
		}
	}

	if isIndexed(job) {
		jc.prevSucceededIndexes, jc.succeededIndexes = succeededIndexes(job, pods)
		jc.succeeded = int32(jc.succeededIndexes.total())
		if hasBackoffLimitPerIndex(job) {
			jc.failedIndexes = failedIndexes(job, pods)
			if jc.finishedCondition == nil {
				if job.Spec.MaxFailedIndexes != nil && jc.failedIndexes.total() > int(*job.Spec.MaxFailedIndexes) {
					jc.finishedCondition = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonMaxFailedIndexesExceeded, "Job has exceeded the specified maximal number of failed indexes", now)
				} else if jc.failedIndexes.total() > 0 && jc.failedIndexes.total()+jc.succeededIndexes.total() >= int(*job.Spec.Completions) {
					jc.finishedCondition = newCondition(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonFailedIndexes, "Job has failed indexes", now)
				}
			}
			jc.podsWithDelayedDeletionPerIndex = podsWithDelayedDeletionPerIndex(jc)
		}
		if jc.finishedCondition == nil {
			if msg, met := matchSuccessPolicy(job.Spec.SuccessPolicy, *job.Spec.Completions, jc.succeededIndexes); met {
				jc.finishedCondition = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonSuccessPolicy, msg, now)
			}
		}
	}

	var manageErr error
	suspendChanged := false
	if jc.finishedCondition != nil {
		// The job is decided: its remaining pods go, keeping their finalizers
		// until they are counted.
		deletedReady, deleted, err := jm.deleteActivePods(ctx, job, jc.activePods)
		if deleted != active || !satisfied {
			// Pods may still be running or not yet in the cache.
			jc.finishedCondition = nil
		}
		active -= deleted
		jc.terminating += deleted
		jc.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = jm.manageJob(ctx, job, jc)
			managed = true
		}
		var complete bool
		if job.Spec.Completions == nil {
			// Any success completes a job without completions, once nothing runs.
			complete = jc.succeeded > 0 && active == 0
		} else {
			complete = jc.succeeded >= *job.Spec.Completions && active == 0
		}
		switch {
		case complete:
			jc.finishedCondition = newCondition(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
		case managed && isSuspended(job):
			var changed bool
			job.Status.Conditions, changed = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now)
			if changed {
				suspendChanged = true
				jm.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
			}
		case managed:
			var changed bool
			job.Status.Conditions, changed = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
			if changed {
				suspendChanged = true
				jm.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
				// activeDeadlineSeconds counts continuous activity: a resumed job
				// starts its clock again.
				t := metav1.NewTime(now)
				job.Status.StartTime = &t
			}
		}
	}

	terminating := jc.terminating
	needsUpdate := suspendChanged || active != job.Status.Active ||
		job.Status.Ready == nil || *job.Status.Ready != jc.ready ||
		job.Status.Terminating == nil || *job.Status.Terminating != terminating
	job.Status.Active = active
	job.Status.Ready = &jc.ready
	job.Status.Terminating = &terminating
	if err := jm.trackJobStatusAndRemoveFinalizers(ctx, jc, needsUpdate); err != nil {
		return fmt.Errorf("tracking status: %w", err)
	}
	return manageErr
}

// countedFailures is how many of the failed pods count towards the backoff limit:
// those an Ignore rule matches do not.
func countedFailures(job *batchv1.Job, failed []*corev1.Pod) int {
	n := len(failed)
	if job.Spec.PodFailurePolicy != nil {
		for _, p := range failed {
			if !matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).countFailed {
				n--
			}
		}
	}
	return n
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure the kubelet restarts
// containers in place, so their restarts count as the failures.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += cs.RestartCount
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

// pastActiveDeadline: a suspended job's clock does not run.
func (jm *Controller) pastActiveDeadline(job *batchv1.Job) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || isSuspended(job) {
		return false
	}
	return jm.now().Sub(job.Status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second
}

// podsForJob lists the namespace's pods and claims those the job selects: orphans
// are adopted (with the tracking finalizer), pods no longer selected released.
func (jm *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("couldn't convert Job selector: %v", err)
	}
	// All pods: some no longer match but still name the job as controller.
	pods, err := jm.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	m := &controllers.RefManager{
		Owner: job, GVK: controllerKind, Selector: sel,
		CanAdopt: controllers.RecheckDeletionTimestamp(job.UID, func(ctx context.Context) (metav1.Object, error) {
			return jm.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		}),
	}
	out, err := controllers.ClaimAll(ctx, m, pods, jm.patchPodAdoptingWithFinalizer)
	for i, p := range out {
		if !metav1.IsControlledBy(p, job) && !hasTrackingFinalizer(p) {
			// Just adopted: the patch added the finalizer; count with it.
			p = p.DeepCopy()
			p.Finalizers = append(p.Finalizers, batchv1.JobTrackingFinalizer)
			out[i] = p
		}
	}
	return out, err
}

// patchPodAdoptingWithFinalizer writes a claim patch; an adoption also adds the
// tracking finalizer, so that the adopted pod is counted like the job's own.
func (jm *Controller) patchPodAdoptingWithFinalizer(ctx context.Context, namespace, name string, patch []byte) error {
	var p map[string]map[string]interface{}
	if err := json.Unmarshal(patch, &p); err == nil && isAdoptPatch(p) {
		p["metadata"]["finalizers"] = []string{batchv1.JobTrackingFinalizer}
		if b, err := json.Marshal(p); err == nil {
			patch = b
		}
	}
	_, err := jm.client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// isAdoptPatch tells controllers.AdoptPatch from controllers.ReleasePatch.
func isAdoptPatch(p map[string]map[string]interface{}) bool {
	refs, ok := p["metadata"]["ownerReferences"].([]interface{})
	if !ok || len(refs) == 0 {
		return false
	}
	ref, ok := refs[0].(map[string]interface{})
	return ok && ref["$patch"] == nil
}

// manageJob creates or deletes pods towards the wanted number of active pods,
// respecting the failure backoff; it returns the new count of active pods.
func (jm *Controller) manageJob(ctx context.Context, job *batchv1.Job, jc *syncContext) (int32, error) {
	logger := klog.FromContext(ctx)
	active := int32(len(jc.activePods))
	parallelism := *job.Spec.Parallelism
	key := jc.key

	if isSuspended(job) {
		logger.V(4).Info("Deleting all active pods in suspended job", "job", klog.KObj(job), "active", active)
		rm := activePodsForRemoval(job, jc.activePods, int(active))
		jm.expectations.ExpectDeletions(key, len(rm))
		removedReady, removed, err := jm.deleteJobPods(ctx, job, key, rm)
		active -= removed
		jc.terminating += removed
		jc.ready -= removedReady
		return active, err
	}

	var wantActive int32
	if job.Spec.Completions == nil {
		// Without completions, parallelism runs until the first success; then
		// what runs is left to finish.
		if jc.succeeded > 0 {
			wantActive = active
		} else {
			wantActive = parallelism
		}
	} else {
		wantActive = max(min(*job.Spec.Completions-jc.succeeded, parallelism), 0)
	}

	rmAtLeast := max(active-wantActive, 0)
	rm := activePodsForRemoval(job, jc.activePods, int(rmAtLeast))
	if len(rm) > maxPodCreateDeletePerSync {
		rm = rm[:maxPodCreateDeletePerSync]
	}
	if len(rm) > 0 {
		jm.expectations.ExpectDeletions(key, len(rm))
		logger.V(4).Info("Too many pods running for job", "job", klog.KObj(job), "deleted", len(rm), "target", wantActive)
		removedReady, removed, err := jm.deleteJobPods(ctx, job, key, rm)
		active -= removed
		jc.terminating += removed
		jc.ready -= removedReady
		// A sync either deletes or creates, deletion first.
		return active, err
	}

	var terminating int32
	if onlyReplaceFailedPods(job) {
		terminating = jc.terminating
	}
	diff := wantActive - terminating - active
	if diff <= 0 {
		return active, nil
	}
	var remaining time.Duration
	if !hasBackoffLimitPerIndex(job) {
		remaining = jc.newBackoffRecord.remaining(jm.now())
	}
	if remaining > 0 {
		jm.enqueue(job, max(remaining, syncJobBatchPeriod))
		return active, nil
	}
	diff = min(diff, maxPodCreateDeletePerSync)

	var indexes []int
	if isIndexed(job) {
		indexes = firstPendingIndexes(jc, int(diff), int(*job.Spec.Completions))
		if hasBackoffLimitPerIndex(job) {
			indexes, remaining = jm.indexesReadyForCreation(indexes, jc.podsWithDelayedDeletionPerIndex)
			if remaining > 0 {
				jm.enqueue(job, max(remaining, syncJobBatchPeriod))
				return active, nil
			}
		}
		diff = int32(len(indexes))
	}
	if diff == 0 {
		return active, nil
	}
	created, err := jm.createPods(ctx, job, jc, int(diff), indexes)
	logger.V(4).Info("Too few pods running", "key", key, "need", wantActive, "creating", diff)
	return active + int32(created), err
}

// indexesReadyForCreation keeps the indexes whose per-index backoff is over; when
// none is, it returns the shortest wait.
func (jm *Controller) indexesReadyForCreation(indexes []int, delayed map[int]*corev1.Pod) ([]int, time.Duration) {
	var ready []int
	var wait *time.Duration
	for _, ix := range indexes {
		var r time.Duration
		if last := delayed[ix]; last != nil {
			t := finishedTime(last)
			r = remainingForFailures(jm.now(), indexAbsoluteFailureCount(last)+1, &t)
		}
		if r == 0 {
			ready = append(ready, ix)
		} else if wait == nil || r < *wait {
			wait = &r
		}
	}
	if len(ready) > 0 || wait == nil {
		return ready, 0
	}
	return nil, *wait
}

// createPods creates n pods (one per index for Indexed jobs) in slow-start
// batches, and returns how many were created.
func (jm *Controller) createPods(ctx context.Context, job *batchv1.Job, jc *syncContext, n int, indexes []int) (int, error) {
	key := jc.key
	jm.expectations.ExpectCreations(key, n)
	template := job.Spec.Template.DeepCopy()
	if isIndexed(job) {
		addCompletionIndexEnv(template)
	}
	if !containsString(template.Finalizers, batchv1.JobTrackingFinalizer) {
		template.Finalizers = append(template.Finalizers, batchv1.JobTrackingFinalizer)
	}
	ref := controllers.NewControllerRef(job, controllerKind)
	created := 0
	var firstErr error
	for batch := min(n, slowStartInitialBatchSize); n > 0; batch = min(2*batch, n) {
		errs := make(chan error, batch)
		for i := 0; i < batch; i++ {
			ix := unknownCompletionIndex
			if len(indexes) > 0 {
				ix, indexes = indexes[0], indexes[1:]
			}
			go func() { errs <- jm.createPod(ctx, job, template, ref, ix, jc) }()
		}
		failures := 0
		for i := 0; i < batch; i++ {
			if err := <-errs; err != nil {
				// The cache will never show this pod.
				jm.expectations.CreationObserved(key)
				if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					failures++
					if firstErr == nil {
						firstErr = err
					}
				}
				continue
			}
			created++
		}
		n -= batch
		if failures > 0 {
			// Stop after a failing batch; a later sync retries what is left.
			for ; n > 0; n-- {
				jm.expectations.CreationObserved(key)
			}
			break
		}
	}
	return created, firstErr
}

func (jm *Controller) createPod(ctx context.Context, job *batchv1.Job, template *corev1.PodTemplateSpec, ref *metav1.OwnerReference, ix int, jc *syncContext) error {
	t := template
	generateName := ""
	if ix != unknownCompletionIndex {
		t = template.DeepCopy()
		setCompletionIndex(t, ix)
		// The pod's hostname, with the subdomain of a headless Service, gives
		// each index a stable DNS name.
		t.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
		generateName = generateNameWithIndex(job.Name, ix)
		if hasBackoffLimitPerIndex(job) {
			addIndexFailureCountAnnotation(t, job, jc.podsWithDelayedDeletionPerIndex[ix])
		}
	}
	pod := controllers.PodFromTemplate(t, job, ref)
	if generateName != "" {
		pod.GenerateName = generateName
	}
	_, err := jm.podControl.CreatePod(ctx, pod, job)
	return err
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// activePodsForRemoval picks at least rmAtLeast active pods to delete, the least
// advanced first; for Indexed jobs it also picks repeated and invalid indexes.
func activePodsForRemoval(job *batchv1.Job, pods []*corev1.Pod, rmAtLeast int) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if isIndexed(job) {
		rm, left = duplicatedIndexPodsForRemoval(pods, int(*job.Spec.Completions))
	} else {
		left = append(left, pods...)
	}
	if len(rm) < rmAtLeast {
		controllers.SortPodsForDeletion(left)
		rm = append(rm, left[:rmAtLeast-len(rm)]...)
	}
	return rm
}

// deleteActivePods deletes a decided job's pods, keeping their finalizers so that
// they are counted; it returns how many ready pods and pods it deleted.
func (jm *Controller) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (int32, int32, error) {
	var ready, deleted int32
	var firstErr error
	for _, p := range pods {
		if err := jm.podControl.DeletePod(ctx, job.Namespace, p.Name, job); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		deleted++
		if isPodReady(p) {
			ready++
		}
	}
	return ready, deleted, firstErr
}

// deleteJobPods removes the finalizer of pods the job no longer wants, then
// deletes them: they are not failures and are never counted.
func (jm *Controller) deleteJobPods(ctx context.Context, job *batchv1.Job, key string, pods []*corev1.Pod) (int32, int32, error) {
	var ready, deleted int32
	var firstErr error
	fail := func(err error) {
		jm.expectations.DeletionObserved(key)
		if !apierrors.IsNotFound(err) && firstErr == nil {
			firstErr = err
		}
	}
	for _, p := range pods {
		if patch := removeTrackingFinalizerPatch(p); patch != nil {
			_, err := jm.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			if apierrors.IsNotFound(err) {
				// Gone already: deleted, and the cache will not tell.
				jm.expectations.DeletionObserved(key)
				deleted++
				continue
			}
			if err != nil {
				fail(fmt.Errorf("removing completion finalizer: %w", err))
				continue
			}
		}
		if err := jm.podControl.DeletePod(ctx, job.Namespace, p.Name, job); err != nil {
			fail(err)
			continue
		}
		deleted++
		if isPodReady(p) {
			ready++
		}
	}
	return ready, deleted, firstErr
}
