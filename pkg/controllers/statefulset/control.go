package statefulset

import (
	"context"
	"errors"
	"sort"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// maxBatchSize bounds the in-flight requests of the Parallel policy's slow start.
const maxBatchSize = 500

// updateStatefulSet reconciles set's pods one step towards its spec, records the
// status, and trims the revision history. revisions are the set's own, sorted.
func (c *controller) updateStatefulSet(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revisions []*appsv1.ControllerRevision) (*appsv1.StatefulSetStatus, error) {
	set = set.DeepCopy()
	current, update, collisionCount, err := c.revisions(ctx, set, revisions)
	if err != nil {
		return nil, err
	}
	status, err := c.reconcilePods(ctx, set, current, update, collisionCount, pods)
	if status != nil {
		if statusErr := c.updateStatus(ctx, set, status); statusErr != nil && err == nil {
			err = statusErr
		}
	}
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[getPodRevision(p)] = true
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	truncErr := c.history.TruncateHistory(ctx, revisions, func(r *appsv1.ControllerRevision) bool { return live[r.Name] }, limit)
	return status, errors.Join(err, truncErr)
}

// revisions returns the current and update revisions of set, creating the update
// revision when the template is new, or renumbering an older equal revision when
// the template went back to it (a rollback).
func (c *controller) revisions(ctx context.Context, set *appsv1.StatefulSet, revisions []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	update, err = newRevision(set, nextRevision(revisions), &collisionCount)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	equal := controllers.FindEqualRevisions(revisions, update)
	switch {
	case len(equal) > 0 && controllers.EqualRevision(revisions[len(revisions)-1], equal[len(equal)-1]):
		update = revisions[len(revisions)-1]
	case len(equal) > 0:
		update, err = c.history.UpdateRevision(ctx, equal[len(equal)-1], update.Revision)
	default:
		update, err = c.history.Create(ctx, set, update, &collisionCount)
	}
	if err != nil {
		return nil, nil, collisionCount, err
	}
	for _, r := range revisions {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update, collisionCount, nil
}

// computeStatus counts pods by readiness and revision.
func computeStatus(status *appsv1.StatefulSetStatus, minReadySeconds int32, current, update *appsv1.ControllerRevision, podLists ...[]*corev1.Pod) {
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas = 0, 0, 0
	status.CurrentReplicas, status.UpdatedReplicas = 0, 0
	for _, list := range podLists {
		for _, pod := range list {
			if isCreated(pod) {
				status.Replicas++
			}
			if isRunningAndReady(pod) {
				status.ReadyReplicas++
				if isRunningAndAvailable(pod, minReadySeconds) {
					status.AvailableReplicas++
				}
			}
			if isCreated(pod) && !isTerminating(pod) {
				switch getPodRevision(pod) {
				case current.Name:
					status.CurrentReplicas++
					if current.Name == update.Name {
						status.UpdatedReplicas++
					}
				case update.Name:
					status.UpdatedReplicas++
				}
			}
		}
	}
}

// reconcilePods creates, fixes and deletes pods so that set runs replicas pods at
// the right revisions: in OrderedReady, one pod at a time in ordinal order, scale
// down from the highest ordinal, and a rolling update from the highest ordinal down
// to the partition; in Parallel, without waiting.
func (c *controller) reconcilePods(ctx context.Context, set *appsv1.StatefulSet, currentRev, updateRev *appsv1.ControllerRevision, collisionCount int32, pods []*corev1.Pod) (*appsv1.StatefulSetStatus, error) {
	currentSet, err := applyRevision(set, currentRev)
	if err != nil {
		return nil, err
	}
	updateSet, err := applyRevision(set, updateRev)
	if err != nil {
		return nil, err
	}
	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    currentRev.Name,
		UpdateRevision:     updateRev.Name,
		CollisionCount:     &collisionCount,
	}
	minReady := set.Spec.MinReadySeconds
	computeStatus(status, minReady, currentRev, updateRev, pods)

	start, end := startOrdinal(set), endOrdinal(set)
	replicaPods := make([]*corev1.Pod, end-start+1)
	var condemned []*corev1.Pod
	for _, pod := range pods {
		switch o := getOrdinal(pod); {
		case podInOrdinalRange(pod, set):
			replicaPods[o-start] = pod
		case o >= 0:
			condemned = append(condemned, pod)
		}
	}
	for ord := start; ord <= end; ord++ {
		if replicaPods[ord-start] == nil {
			replicaPods[ord-start] = newVersionedStatefulSetPod(currentSet, updateSet, currentRev.Name, updateRev.Name, ord)
		}
	}
	// condemned pods go highest ordinal first
	sort.Slice(condemned, func(i, j int) bool { return getOrdinal(condemned[i]) > getOrdinal(condemned[j]) })

	var firstUnavailable *corev1.Pod
	for _, p := range replicaPods {
		if isUnavailable(p, minReady) {
			firstUnavailable = p
			break
		}
	}
	if firstUnavailable == nil {
		for i := len(condemned) - 1; i >= 0; i-- {
			if isUnavailable(condemned[i], minReady) {
				firstUnavailable = condemned[i]
				break
			}
		}
	}

	if set.DeletionTimestamp != nil {
		return status, nil
	}
	monotonic := !allowsBurst(set)
	finish := func(err error) (*appsv1.StatefulSetStatus, error) {
		computeStatus(status, minReady, currentRev, updateRev, replicaPods, condemned)
		return status, err
	}

	if exit, err := runForAll(replicaPods, func(i int) (bool, error) {
		return c.processReplica(ctx, set, updateSet, monotonic, replicaPods, i)
	}, monotonic); exit || err != nil {
		return finish(err)
	}
	if exit, err := runForAll(condemned, func(i int) (bool, error) {
		if match, err := c.pods.claimsMatchRetention(updateSet, condemned[i]); err != nil {
			return true, err
		} else if !match {
			if err := c.pods.updateClaimsForRetention(ctx, updateSet, condemned[i]); err != nil {
				return true, err
			}
		}
		return false, nil
	}, monotonic); exit || err != nil {
		return finish(err)
	}
	if exit, err := runForAll(condemned, func(i int) (bool, error) {
		return c.processCondemned(ctx, set, firstUnavailable, monotonic, condemned, i)
	}, monotonic); exit || err != nil {
		return finish(err)
	}
	computeStatus(status, minReady, currentRev, updateRev, replicaPods, condemned)

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return status, nil
	}
	return c.rollingUpdate(ctx, set, replicaPods, updateRev, status)
}

// rollingUpdate deletes, highest ordinal first and down to the partition, up to
// maxUnavailable pods that are not at the update revision; the next syncs recreate
// them at it.
func (c *controller) rollingUpdate(ctx context.Context, set *appsv1.StatefulSet, replicaPods []*corev1.Pod, updateRev *appsv1.ControllerRevision, status *appsv1.StatefulSetStatus) (*appsv1.StatefulSetStatus, error) {
	maxUnavail, err := maxUnavailable(set)
	if err != nil {
		return status, err
	}
	unavailable := 0
	for _, p := range replicaPods {
		if isUnavailable(p, set.Spec.MinReadySeconds) {
			unavailable++
		}
	}
	if unavailable >= maxUnavail {
		klog.FromContext(ctx).V(4).Info("StatefulSet found unavailablePods, more than or equal to allowed maxUnavailable",
			"statefulSet", klog.KObj(set), "unavailablePods", unavailable, "maxUnavailable", maxUnavail)
		return status, nil
	}
	toDelete := maxUnavail - unavailable
	for target := len(replicaPods) - 1; target >= partition(set) && toDelete > 0; target-- {
		p := replicaPods[target]
		if getPodRevision(p) == updateRev.Name || isTerminating(p) {
			continue
		}
		klog.FromContext(ctx).V(2).Info("StatefulSet terminating Pod for update", "statefulSet", klog.KObj(set), "pod", klog.KObj(p))
		if err := c.pods.deletePod(ctx, set, p); err != nil && !apierrors.IsNotFound(err) {
			return status, err
		}
		toDelete--
		status.CurrentReplicas--
	}
	return status, nil
}

// processReplica brings replica i to its desired state; it reports whether the
// ordered (monotonic) walk must stop here.
func (c *controller) processReplica(ctx context.Context, set, updateSet *appsv1.StatefulSet, monotonic bool, replicaPods []*corev1.Pod, i int) (bool, error) {
	logger := klog.FromContext(ctx)
	pod := replicaPods[i]
	// A finished pod (failed, or succeeded after an eviction) is deleted and
	// recreated on a later sync, whatever its exit code.
	if isFailed(pod) || isSucceeded(pod) {
		if pod.DeletionTimestamp == nil {
			if err := c.pods.deletePod(ctx, set, pod); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	if !isCreated(pod) {
		if stale, err := c.pods.claimIsStale(set, pod); err != nil || stale {
			return true, err
		}
		if err := c.pods.createPod(ctx, set, pod); err != nil {
			return true, err
		}
		if monotonic {
			return true, nil
		}
	}
	if isPending(pod) {
		if err := c.pods.createMissingClaims(ctx, set, pod); err != nil {
			return true, err
		}
	}
	if isTerminating(pod) && monotonic {
		logger.V(4).Info("StatefulSet is waiting for Pod to Terminate", "statefulSet", klog.KObj(set), "pod", klog.KObj(pod))
		return true, nil
	}
	if !isRunningAndReady(pod) && monotonic {
		logger.V(4).Info("StatefulSet is waiting for Pod to be Running and Ready", "statefulSet", klog.KObj(set), "pod", klog.KObj(pod))
		return true, nil
	}
	if !isRunningAndAvailable(pod, set.Spec.MinReadySeconds) && monotonic {
		logger.V(4).Info("StatefulSet is waiting for Pod to be Available", "statefulSet", klog.KObj(set), "pod", klog.KObj(pod))
		return true, nil
	}
	retentionMatch, err := c.pods.claimsMatchRetention(updateSet, pod)
	if err != nil {
		retentionMatch = true // expected while the pod itself is being updated
	}
	if identityMatches(set, pod) && storageMatches(set, pod) && retentionMatch {
		return false, nil
	}
	if err := c.pods.updatePod(ctx, updateSet, pod.DeepCopy()); err != nil {
		return true, err
	}
	return false, nil
}

// processCondemned deletes a pod beyond the replica count; in OrderedReady it waits
// for the pod to terminate and for unhealthy predecessors.
func (c *controller) processCondemned(ctx context.Context, set *appsv1.StatefulSet, firstUnavailable *corev1.Pod, monotonic bool, condemned []*corev1.Pod, i int) (bool, error) {
	logger := klog.FromContext(ctx)
	pod := condemned[i]
	if isTerminating(pod) {
		if monotonic {
			logger.V(4).Info("StatefulSet is waiting for Pod to Terminate prior to scale down", "statefulSet", klog.KObj(set), "pod", klog.KObj(pod))
			return true, nil
		}
		return false, nil
	}
	if monotonic && pod != firstUnavailable && (!isRunningAndReady(pod) || !isRunningAndAvailable(pod, set.Spec.MinReadySeconds)) {
		logger.V(4).Info("StatefulSet is waiting for Pod to be Running, Ready and Available prior to scale down", "statefulSet", klog.KObj(set), "pod", klog.KObj(firstUnavailable))
		return true, nil
	}
	logger.V(2).Info("Pod of StatefulSet is terminating for scale down", "statefulSet", klog.KObj(set), "pod", klog.KObj(pod))
	return true, c.pods.deletePod(ctx, set, pod)
}

// runForAll runs fn over pods: in order, stopping at the first that asks to, when
// monotonic; otherwise in slow-start batches (1, 2, 4, … up to maxBatchSize).
func runForAll(pods []*corev1.Pod, fn func(i int) (bool, error), monotonic bool) (bool, error) {
	if monotonic {
		for i := range pods {
			if exit, err := fn(i); exit || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	next := 0
	for batch := min(1, len(pods)); batch > 0; batch = min(2*batch, len(pods)-next, maxBatchSize) {
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for k := 0; k < batch; k++ {
			wg.Add(1)
			go func(k, i int) {
				defer wg.Done()
				_, errs[k] = fn(i)
			}(k, next+k)
		}
		wg.Wait()
		next += batch
		if err := errors.Join(errs...); err != nil {
			return true, err
		}
	}
	return false, nil
}

// updateStatus completes a finished rolling update and writes status when it differs.
func (c *controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) error {
	completeRollingUpdate(set, status)
	if !inconsistentStatus(set, status) {
		return nil
	}
	toUpdate := set.DeepCopy()
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		toUpdate.Status = *status
		_, err := c.client.AppsV1().StatefulSets(toUpdate.Namespace).UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if fresh, getErr := c.setLister.StatefulSets(set.Namespace).Get(set.Name); getErr == nil {
			toUpdate = fresh.DeepCopy()
		}
		return err
	})
}
