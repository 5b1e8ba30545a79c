package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// sync reconciles one owner: claim its pods, create or delete the difference when
// the cache can be trusted (expectations satisfied), then write the status.
func (rc *controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	o, err := rc.kind.get(ns, name)
	if apierrors.IsNotFound(err) {
		rc.expectations.Delete(key)
		rc.deletions.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	rs := o.rs
	needsSync := rc.expectations.Satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		klog.FromContext(ctx).Error(err, "Invalid selector", "object", key)
		return nil
	}
	all, err := rc.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	active, err := rc.claimPods(ctx, o, selector, controllers.FilterActivePods(all))
	if err != nil {
		return err
	}
	var terminating []*corev1.Pod
	if rc.kind.terminating {
		terminating = claimedTerminating(rs, selector, all)
	}

	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = rc.manageReplicas(ctx, key, o, active)
	}
	status := calculateStatus(rs, active, terminating, rc.kind.terminating, manageErr)
	updated, err := rc.updateStatus(ctx, o, status)
	if err != nil {
		return err
	}
	// Pods turn available minReadySeconds after they turn ready, with no event.
	u := updated.rs
	if manageErr == nil && u.Spec.MinReadySeconds > 0 && u.Status.ReadyReplicas == replicas(u) && u.Status.AvailableReplicas != replicas(u) {
		rc.enqueueAfter(updated, time.Duration(u.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// claimPods adopts matching orphans and releases owned pods that no longer match.
func (rc *controller) claimPods(ctx context.Context, o *owned, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	rs := o.rs
	m := &controllers.RefManager{
		Owner: rs, GVK: rc.kind.gvk, Selector: selector,
		CanAdopt: controllers.RecheckDeletionTimestamp(rs.UID, func(ctx context.Context) (metav1.Object, error) {
			return rc.kind.fetch(ctx, rs.Namespace, rs.Name)
		}),
	}
	return m.ClaimPods(ctx, rc.pc.Client, pods)
}

// claimedTerminating are the owner's pods being deleted that have not finished.
func claimedTerminating(rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.UID == rs.UID && selector.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// manageReplicas creates or deletes the difference between the active pods and
// spec.replicas, at most burstReplicas at a time.
func (rc *controller) manageReplicas(ctx context.Context, key string, o *owned, active []*corev1.Pod) error {
	rs := o.rs
	logger := klog.FromContext(ctx)
	diff := len(active) - int(replicas(rs))
	switch {
	case diff < 0:
		diff = min(-diff, rc.burstReplicas)
		// Expect before creating: the watch may show the pods before Create returns.
		rc.expectations.ExpectCreations(key, diff)
		logger.V(2).Info("Too few replicas", "object", key, "need", replicas(rs), "creating", diff)
		ref := controllers.NewControllerRef(rs, rc.kind.gvk)
		created, err := slowStartBatch(diff, 1, func() error {
			pod := controllers.PodFromTemplate(&rs.Spec.Template, rs, ref)
			_, err := rc.pc.CreatePod(ctx, pod, o.obj)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // every later create fails the same way; nothing to report
			}
			return err
		})
		// The pods never created will never be observed.
		for i := created; i < diff; i++ {
			rc.expectations.CreationObserved(key)
		}
		return err
	case diff > 0:
		diff = min(diff, rc.burstReplicas)
		logger.V(2).Info("Too many replicas", "object", key, "need", replicas(rs), "deleting", diff)
		victims := podsToDelete(active, diff)
		podKeys := make([]string, len(victims))
		for i, p := range victims {
			podKeys[i] = p.Namespace + "/" + p.Name
		}
		rc.deletions.expect(key, podKeys)
		rc.expectations.ExpectDeletions(key, len(victims))
		errs := make([]error, len(victims))
		var wg sync.WaitGroup
		for i, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := rc.pc.DeletePod(ctx, p.Namespace, p.Name, o.obj); err != nil {
					// Not deleted, so never observed.
					if rc.deletions.observed(key, podKeys[i]) {
						rc.expectations.DeletionObserved(key)
					}
					errs[i] = err
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// podsToDelete picks the n pods to delete first (controllers.SortPodsForDeletion).
func podsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	if n < len(pods) {
		pods = append([]*corev1.Pod(nil), pods...)
		controllers.SortPodsForDeletion(pods)
	}
	return pods[:n]
}

// slowStartBatch calls fn count times in batches of 1, 2, 4, … (from initial),
// running each batch in parallel and stopping at the first batch with an error, so
// that a create that always fails (a quota, a webhook) fails once rather than count
// times. It returns how many calls succeeded, as upstream's slowStartBatch.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}

// calculateStatus counts the pods (terminating ones when countTerminating) and sets or clears ReplicaFailure from the error
// manageReplicas returned.
func calculateStatus(rs *appsv1.ReplicaSet, active, terminating []*corev1.Pod, countTerminating bool, manageErr error) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	var fullyLabeled, ready, available int32
	template := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	now := metav1.Now()
	for _, p := range active {
		if template.Matches(labels.Set(p.Labels)) {
			fullyLabeled++
		}
		if controllers.IsPodReady(p) {
			ready++
			if controllers.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := getCondition(status, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := ""
		if diff := len(active) - int(replicas(rs)); diff < 0 {
			reason = "FailedCreate"
		} else if diff > 0 {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: now, Reason: reason, Message: manageErr.Error()})
	case manageErr == nil && failure != nil:
		status.Conditions = removeCondition(status.Conditions, appsv1.ReplicaSetReplicaFailure)
	}
	status.Replicas = int32(len(active))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	if countTerminating {
		t := int32(len(terminating))
		status.TerminatingReplicas = &t
	}
	return status
}

func getCondition(s appsv1.ReplicaSetStatus, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

func removeCondition(cs []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) []appsv1.ReplicaSetCondition {
	var out []appsv1.ReplicaSetCondition
	for _, c := range cs {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

// updateStatus writes status (with observedGeneration) unless nothing changed,
// retrying once on a fresh copy when another writer got there first, as upstream.
func (rc *controller) updateStatus(ctx context.Context, o *owned, status appsv1.ReplicaSetStatus) (*owned, error) {
	rs := o.rs
	if statusEqual(rs.Status, status) && rs.Generation == rs.Status.ObservedGeneration {
		return o, nil
	}
	status.ObservedGeneration = rs.Generation
	updated, err := rc.kind.updateStatus(ctx, o, status)
	if err == nil {
		return updated, nil
	}
	if fresh, getErr := rc.kind.fetch(ctx, rs.Namespace, rs.Name); getErr == nil {
		if f, ok := rc.kind.toOwned(fresh); ok {
			if updated, err = rc.kind.updateStatus(ctx, f, status); err == nil {
				return updated, nil
			}
		}
	}
	return nil, fmt.Errorf("update status of %s %s/%s: %w", rc.kind.gvk.Kind, rs.Namespace, rs.Name, err)
}

func statusEqual(a, b appsv1.ReplicaSetStatus) bool {
	return a.Replicas == b.Replicas && a.FullyLabeledReplicas == b.FullyLabeledReplicas &&
		a.ReadyReplicas == b.ReadyReplicas && a.AvailableReplicas == b.AvailableReplicas &&
		ptrEqual(a.TerminatingReplicas, b.TerminatingReplicas) && conditionsEqual(a.Conditions, b.Conditions)
}

func ptrEqual(a, b *int32) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func conditionsEqual(a, b []appsv1.ReplicaSetCondition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status || a[i].Reason != b[i].Reason ||
			a[i].Message != b[i].Message || !a[i].LastTransitionTime.Equal(&b[i].LastTransitionTime) {
			return false
		}
	}
	return true
}
