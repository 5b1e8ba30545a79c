// Package ttlafterfinished deletes finished Jobs once their
// spec.ttlSecondsAfterFinished has passed, as upstream's ttl-after-finished
// controller does: the time counts from the Complete or Failed condition's
// transition, the job is re-read from the API before it is deleted (the TTL may
// have changed), and the delete is preconditioned on that version and propagates
// in the background, so the job's pods go with it.
package ttlafterfinished

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

const workers = 5

// Controller deletes expired finished Jobs.
type Controller struct {
	client    kubernetes.Interface
	jobLister batchlisters.JobLister
	queue     controllers.Queue
	now       func() time.Time
}

// Start registers the controller's job informer and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	jobs := c.Informers.Batch().V1().Jobs()
	tc := &Controller{client: c.Client, jobLister: jobs.Lister(), queue: controllers.NewQueue("ttl_jobs_to_delete"), now: time.Now}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    tc.enqueueIfNeeded,
		UpdateFunc: func(_, cur interface{}) { tc.enqueueIfNeeded(cur) },
	}); err != nil {
		return fmt.Errorf("add job event handler: %w", err)
	}
	c.Go(func() {
		controllers.RunWorkers(ctx, "ttl-after-finished", tc.queue, workers, tc.sync, jobs.Informer().HasSynced)
	})
	return nil
}

func (tc *Controller) enqueueIfNeeded(obj interface{}) {
	if j, ok := obj.(*batchv1.Job); ok && needsCleanup(j) {
		controllers.Enqueue(tc.queue, j)
	}
}

// needsCleanup: a finished job with a TTL that is not already being deleted.
func needsCleanup(j *batchv1.Job) bool {
	return j.Spec.TTLSecondsAfterFinished != nil && j.DeletionTimestamp == nil && finished(j)
}

func finished(j *batchv1.Job) bool {
	_, ok := finishTime(j)
	return ok
}

// finishTime is the transition time of the job's true Complete or Failed condition.
func finishTime(j *batchv1.Job) (time.Time, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// timeLeft is how long the job has before it expires (<= 0: expired).
func (tc *Controller) timeLeft(ctx context.Context, j *batchv1.Job) (time.Duration, error) {
	at, ok := finishTime(j)
	if !ok || at.IsZero() {
		return 0, fmt.Errorf("unable to find the time when the Job %s/%s finished", j.Namespace, j.Name)
	}
	now := tc.now()
	if at.After(now) {
		klog.FromContext(ctx).Info("Warning: Found Job finished in the future. This is likely due to time skew in the cluster. Job cleanup will be deferred.", "job", klog.KObj(j))
	}
	return at.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now), nil
}

// sync deletes the job when its TTL has passed, checked against a fresh read, and
// otherwise requeues it for when it will have.
func (tc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	j, err := tc.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := tc.checkExpired(ctx, key, j); err != nil || !expired {
		return err
	}
	// The cache may be stale: the TTL may have been changed or the job re-created.
	fresh, err := tc.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if expired, err := tc.checkExpired(ctx, key, fresh); err != nil || !expired {
		return err
	}
	bg := metav1.DeletePropagationBackground
	klog.FromContext(ctx).V(4).Info("Cleaning up Job", "job", klog.KObj(fresh))
	err = tc.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &bg,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// checkExpired reports whether j is due for deletion, requeueing the key for the
// rest of its TTL when it is not yet.
func (tc *Controller) checkExpired(ctx context.Context, key string, j *batchv1.Job) (bool, error) {
	if !needsCleanup(j) {
		return false, nil
	}
	left, err := tc.timeLeft(ctx, j)
	if err != nil {
		return false, err
	}
	if left > 0 {
		tc.queue.AddAfter(key, left)
		return false, nil
	}
	return true, nil
}
