package job

import (
	"encoding/json"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

func hasTrackingFinalizer(pod *corev1.Pod) bool {
	for _, f := range pod.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

// removeTrackingFinalizerPatch is the strategic merge patch that drops the tracking
// finalizer and nothing else, or nil when the pod has none.
func removeTrackingFinalizerPatch(pod *corev1.Pod) []byte {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	b, _ := json.Marshal(map[string]interface{}{
		"metadata": map[string]interface{}{
			"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
		},
	})
	return b
}

// finishedCondition returns the job's true Complete or Failed condition type.
func finishedCondition(j *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}

func isFinished(j *batchv1.Job) bool {
	_, ok := finishedCondition(j)
	return ok
}

func findCondition(list []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

// trueCondition returns the condition of type t when its status is True.
func trueCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	if c := findCondition(j.Status.Conditions, t); c != nil && c.Status == corev1.ConditionTrue {
		return c
	}
	return nil
}

func newCondition(t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
}

// ensureCondition sets the condition of type t, reporting whether the list changed;
// a False condition is never added where none was.
func ensureCondition(list []batchv1.JobCondition, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) ([]batchv1.JobCondition, bool) {
	if c := findCondition(list, t); c != nil {
		if c.Status != status || c.Reason != reason || c.Message != message {
			*c = *newCondition(t, status, reason, message, now)
			return list, true
		}
		return list, false
	}
	if status != corev1.ConditionFalse {
		return append(list, *newCondition(t, status, reason, message, now)), true
	}
	return list, false
}

// managedByOther reports whether spec.managedBy hands the job to another controller.
func managedByOther(j *batchv1.Job) bool {
	return j.Spec.ManagedBy != nil && *j.Spec.ManagedBy != batchv1.JobControllerName
}

func isSuspended(j *batchv1.Job) bool { return j.Spec.Suspend != nil && *j.Spec.Suspend }

func isIndexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

func hasBackoffLimitPerIndex(j *batchv1.Job) bool { return j.Spec.BackoffLimitPerIndex != nil }

// onlyReplaceFailedPods: with podReplacementPolicy Failed (the default under a pod
// failure policy) a terminating pod is replaced only once it has failed.
func onlyReplaceFailedPods(j *batchv1.Job) bool {
	return (j.Spec.PodReplacementPolicy != nil && *j.Spec.PodReplacementPolicy == batchv1.Failed) ||
		j.Spec.PodFailurePolicy != nil
}

// isPodFailed counts a failed pod, and a deleted unfinished one unless only failed
// pods are replaced: an orphaned pod may never reach the Failed phase.
func isPodFailed(p *corev1.Pod, j *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailedPods(j) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

func isTerminating(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func countTerminating(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if isTerminating(p) {
			n++
		}
	}
	return n
}

func countReady(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if isPodReady(p) {
			n++
		}
	}
	return n
}

func isPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// uidExpectations hold, per job key, the pod UIDs whose finalizer removal the
// controller asked for and has not yet seen.
type uidExpectations struct {
	mu   sync.Mutex
	uids map[string]sets.Set[string]
}

func newUIDExpectations() *uidExpectations {
	return &uidExpectations{uids: map[string]sets.Set[string]{}}
}

func (u *uidExpectations) get(key string) sets.Set[string] {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.uids[key].Clone()
}

func (u *uidExpectations) expect(key string, uids []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.uids[key]
	if s == nil {
		s = sets.New[string]()
		u.uids[key] = s
	}
	s.Insert(uids...)
}

func (u *uidExpectations) observed(key, uid string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s := u.uids[key]; s != nil {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(u.uids, key)
		}
	}
}

func (u *uidExpectations) delete(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.uids, key)
}
