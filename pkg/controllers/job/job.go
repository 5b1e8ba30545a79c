// Package job runs batch/v1 Jobs to completion, as upstream's job controller does: it
// creates pods from the template up to parallelism (Indexed jobs get one pod per
// completion index), tracks every pod it created with the batch.kubernetes.io/job-tracking
// finalizer, counts finished pods through status.uncountedTerminatedPods before it
// removes that finalizer, applies the pod failure policy, backoff limits (global and
// per index), the active deadline, the success policy and suspension, recreates
// failed pods with an exponential delay (10 s doubling, at most 10 min), and finishes
// the job with SuccessCriteriaMet then Complete, or FailureTarget then Failed, once
// no pod of it is left running.
//
//	if err := job.Start(ctx, c); err != nil { … }
package job

import (
	"context"
	"fmt"
	"reflect"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// controllerKind is the kind of the ownerReference on the pods a Job creates.
var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

const (
	// syncJobBatchPeriod collects the pod events of one job into one sync, as upstream.
	syncJobBatchPeriod = time.Second
	// defaultPodFailureBackoff and maxPodFailureBackoff bound the delay before a failed
	// pod is replaced: 10 s, doubling with each failure since the last success.
	defaultPodFailureBackoff = 10 * time.Second
	maxPodFailureBackoff     = 10 * time.Minute
	// maxUncountedPods keeps status.uncountedTerminatedPods small (about 20 KB).
	maxUncountedPods = 500
	// maxPodCreateDeletePerSync caps the pods one sync creates or deletes.
	maxPodCreateDeletePerSync = 500
	// slowStartInitialBatchSize is the first batch of pod creations; each successful
	// batch doubles the next, so a quota refusal costs one failed create, not hundreds.
	slowStartInitialBatchSize = 1
	workers                   = 5
)

// Controller reconciles Jobs with their pods.
type Controller struct {
	client     kubernetes.Interface
	podControl controllers.PodControl
	recorder   record.EventRecorder

	jobLister batchlisters.JobLister
	podLister corelisters.PodLister

	queue       controllers.Queue
	orphanQueue controllers.Queue

	// expectations count the pod creations and deletions not yet seen in the cache.
	expectations *controllers.Expectations
	// finalizerExpectations hold the pods whose tracking finalizer the controller
	// removed and whose update it has not seen yet: they are counted already.
	finalizerExpectations *uidExpectations
	// backoff remembers the failures since the last success, per job, to delay
	// the replacement of failed pods.
	backoff *backoffStore

	now func() time.Time
}

// Start registers the Job controller's informers and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	jobs := c.Informers.Batch().V1().Jobs()
	pods := c.Informers.Core().V1().Pods()
	recorder := c.Recorder("job-controller")
	jm := newController(c.Client, recorder, jobs.Lister(), pods.Lister())
	if err := jm.register(ctx, jobs.Informer(), pods.Informer()); err != nil {
		return err
	}
	synced := []cache.InformerSynced{jobs.Informer().HasSynced, pods.Informer().HasSynced}
	c.Go(func() { controllers.RunWorkers(ctx, "job", jm.queue, workers, jm.syncJob, synced...) })
	c.Go(func() { controllers.RunWorkers(ctx, "job-orphan-pod", jm.orphanQueue, 1, jm.syncOrphanPod, synced...) })
	return nil
}

func newController(client kubernetes.Interface, recorder record.EventRecorder, jobs batchlisters.JobLister, pods corelisters.PodLister) *Controller {
	return &Controller{
		client:                client,
		podControl:            controllers.PodControl{Client: client, Recorder: recorder},
		recorder:              recorder,
		jobLister:             jobs,
		podLister:             pods,
		queue:                 controllers.NewQueue("job"),
		orphanQueue:           controllers.NewQueue("job_orphan_pod"),
		expectations:          controllers.NewExpectations(),
		finalizerExpectations: newUIDExpectations(),
		backoff:               newBackoffStore(),
		now:                   time.Now,
	}
}

func (jm *Controller) register(ctx context.Context, jobs, pods cache.SharedIndexInformer) error {
	logger := klog.FromContext(ctx)
	if _, err := jobs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { jm.enqueue(obj, 0) },
		UpdateFunc: func(old, cur interface{}) { jm.updateJob(logger, old, cur) },
		DeleteFunc: jm.deleteJob,
	}); err != nil {
		return fmt.Errorf("add job event handler: %w", err)
	}
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    jm.addPod,
		UpdateFunc: jm.updatePod,
		DeleteFunc: func(obj interface{}) { jm.deletePod(obj, true) },
	}); err != nil {
		return fmt.Errorf("add pod event handler: %w", err)
	}
	return nil
}

// enqueue adds the job's key after delay: 0 for the job's own events, the batch
// period for pod events and status updates.
func (jm *Controller) enqueue(obj interface{}, delay time.Duration) {
	controllers.EnqueueAfter(jm.queue, obj, delay)
}

func (jm *Controller) enqueueOrphanPod(pod *corev1.Pod) {
	controllers.Enqueue(jm.orphanQueue, pod)
}

// resolveControllerRef returns the Job ref names, when it is still the same Job.
func (jm *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	return controllers.ResolveControllerRef(ref, controllerKind.Kind, jm.jobLister.Jobs(namespace).Get)
}

// podJobs are the jobs whose selector matches an orphan pod.
func (jm *Controller) podJobs(pod *corev1.Pod) []*batchv1.Job {
	jobs, err := jm.jobLister.Jobs(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllers.Selecting(jobs, func(j *batchv1.Job) *metav1.LabelSelector { return j.Spec.Selector }, pod.Labels)
}

func (jm *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// After a restart a pod may show up already being deleted: that is not
		// the creation the controller waits for.
		jm.deletePod(pod, false)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		job := jm.resolveControllerRef(pod.Namespace, ref)
		if job == nil {
			return
		}
		if key, ok := controllers.Key(job); ok {
			jm.expectations.CreationObserved(key)
		}
		jm.enqueue(job, syncJobBatchPeriod)
		return
	}
	if hasTrackingFinalizer(pod) {
		jm.enqueueOrphanPod(pod)
	}
	for _, job := range jm.podJobs(pod) {
		jm.enqueue(job, syncJobBatchPeriod)
	}
}

func (jm *Controller) updatePod(old, cur interface{}) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if curPod.ResourceVersion == oldPod.ResourceVersion {
		return
	}
	if curPod.DeletionTimestamp != nil {
		// Treat a graceful deletion as the deletion: the job may replace the pod now.
		jm.deletePod(curPod, false)
		return
	}
	finalizerRemoved := !hasTrackingFinalizer(curPod)
	curRef, oldRef := metav1.GetControllerOf(curPod), metav1.GetControllerOf(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if job := jm.resolveControllerRef(oldPod.Namespace, oldRef); job != nil {
			if finalizerRemoved {
				jm.observeFinalizerRemoval(job, curPod)
			}
			jm.enqueue(job, syncJobBatchPeriod)
		}
	}
	if curRef != nil {
		job := jm.resolveControllerRef(curPod.Namespace, curRef)
		if job == nil {
			return
		}
		if finalizerRemoved {
			jm.observeFinalizerRemoval(job, curPod)
		}
		jm.enqueue(job, syncJobBatchPeriod)
		return
	}
	if hasTrackingFinalizer(curPod) {
		jm.enqueueOrphanPod(curPod)
	}
	if refChanged || !reflect.DeepEqual(curPod.Labels, oldPod.Labels) {
		for _, job := range jm.podJobs(curPod) {
			jm.enqueue(job, syncJobBatchPeriod)
		}
	}
}

func (jm *Controller) observeFinalizerRemoval(job *batchv1.Job, pod *corev1.Pod) {
	if key, ok := controllers.Key(job); ok {
		jm.finalizerExpectations.observed(key, string(pod.UID))
	}
}

// deletePod handles a pod deleted (final) or marked for deletion.
func (jm *Controller) deletePod(obj interface{}, final bool) {
	pod, ok := controllers.DeletedObject[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	hasFinalizer := hasTrackingFinalizer(pod)
	if ref == nil {
		// The garbage collector may have removed the reference of a job's pod.
		if hasFinalizer {
			jm.enqueueOrphanPod(pod)
		}
		return
	}
	job := jm.resolveControllerRef(pod.Namespace, ref)
	if job == nil || isFinished(job) {
		// syncJob will not remove this finalizer.
		if hasFinalizer {
			jm.enqueueOrphanPod(pod)
		}
		return
	}
	key, ok := controllers.Key(job)
	if !ok {
		return
	}
	jm.expectations.DeletionObserved(key)
	if final || !hasFinalizer {
		jm.finalizerExpectations.observed(key, string(pod.UID))
	}
	jm.enqueue(job, syncJobBatchPeriod)
}

func (jm *Controller) updateJob(logger klog.Logger, old, cur interface{}) {
	oldJob, curJob := old.(*batchv1.Job), cur.(*batchv1.Job)
	key, ok := controllers.Key(curJob)
	if !ok {
		return
	}
	if curJob.Generation == oldJob.Generation {
		// Status updates, typically caused by pod events: batch them.
		jm.enqueue(curJob, syncJobBatchPeriod)
	} else {
		jm.enqueue(curJob, 0)
	}
	// A finished job's pods must not keep the finalizer; this is the backstop.
	if isFinished(curJob) {
		jm.cleanupPodFinalizers(curJob)
	}
	// A new activeDeadlineSeconds needs a sync at the new deadline.
	if curJob.Status.StartTime != nil && curJob.Spec.ActiveDeadlineSeconds != nil {
		oldADS := oldJob.Spec.ActiveDeadlineSeconds
		if oldADS == nil || *oldADS != *curJob.Spec.ActiveDeadlineSeconds {
			passed := jm.now().Sub(curJob.Status.StartTime.Time)
			total := time.Duration(*curJob.Spec.ActiveDeadlineSeconds) * time.Second
			jm.queue.AddAfter(key, total-passed)
			logger.V(4).Info("Job's ActiveDeadlineSeconds updated, will resync", "key", key, "interval", total-passed)
		}
	}
}

func (jm *Controller) deleteJob(obj interface{}) {
	jm.enqueue(obj, 0)
	job, ok := controllers.DeletedObject[*batchv1.Job](obj)
	if !ok {
		return
	}
	jm.cleanupPodFinalizers(job)
}

// cleanupPodFinalizers queues the job's pods that still carry the tracking
// finalizer, for the orphan worker to remove it.
func (jm *Controller) cleanupPodFinalizers(job *batchv1.Job) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("parsing deleted job selector: %v", err))
		return
	}
	pods, _ := jm.podLister.Pods(job.Namespace).List(sel)
	for _, pod := range pods {
		if metav1.IsControlledBy(pod, job) && hasTrackingFinalizer(pod) {
			jm.enqueueOrphanPod(pod)
		}
	}
}
