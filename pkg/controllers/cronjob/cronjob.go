// Package cronjob creates Jobs on the schedule of each batch/v1 CronJob, as upstream's
// cronjob controller (v2) does: a standard 5-field cron schedule or @hourly-style
// macro, read in spec.timeZone (CRON_TZ in the schedule is warned about, as upstream),
// the most recent missed time started within startingDeadlineSeconds, the
// concurrency policy (Allow, Forbid, Replace), suspension, and the history limits
// that prune finished jobs. A job is named <cronjob>-<scheduled minutes since the
// epoch> and annotated with batch.kubernetes.io/cronjob-scheduled-timestamp, so the
// name is a lock: the same scheduled time never runs twice.
package cronjob

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// nextScheduleDelta pads each wake-up so that a slightly early timer still finds
// the scheduled time passed.
const nextScheduleDelta = 100 * time.Millisecond

const workers = 5

// Controller reconciles CronJobs with the Jobs they own.
type Controller struct {
	client        kubernetes.Interface
	recorder      record.EventRecorder
	jobLister     batchlisters.JobLister
	cronJobLister batchlisters.CronJobLister
	queue         controllers.Queue
	now           func() time.Time
}

// Start registers the CronJob controller's informers and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	jobs := c.Informers.Batch().V1().Jobs()
	cronJobs := c.Informers.Batch().V1().CronJobs()
	jm := newController(c.Client, c.Recorder("cronjob-controller"), jobs.Lister(), cronJobs.Lister())
	logger := klog.FromContext(ctx)
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: jm.addJob, UpdateFunc: jm.updateJob, DeleteFunc: jm.deleteJob,
	}); err != nil {
		return fmt.Errorf("add job event handler: %w", err)
	}
	if _, err := cronJobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { controllers.Enqueue(jm.queue, obj) },
		UpdateFunc: func(old, cur interface{}) { jm.updateCronJob(logger, old, cur) },
		DeleteFunc: func(obj interface{}) { controllers.Enqueue(jm.queue, obj) },
	}); err != nil {
		return fmt.Errorf("add cronjob event handler: %w", err)
	}
	c.Go(func() {
		controllers.RunWorkers(ctx, "cronjob", jm.queue, workers, jm.sync, jobs.Informer().HasSynced, cronJobs.Informer().HasSynced)
	})
	return nil
}

func newController(client kubernetes.Interface, recorder record.EventRecorder, jobs batchlisters.JobLister, cronJobs batchlisters.CronJobLister) *Controller {
	return &Controller{client: client, recorder: recorder, jobLister: jobs, cronJobLister: cronJobs,
		queue: controllers.NewQueue("cronjob"), now: time.Now}
}

// resolveControllerRef returns the CronJob ref names, when it is still the same one.
func (jm *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.CronJob {
	return controllers.ResolveControllerRef(ref, controllerKind.Kind, jm.cronJobLister.CronJobs(namespace).Get)
}

func (jm *Controller) addJob(obj interface{}) {
	job := obj.(*batchv1.Job)
	if job.DeletionTimestamp != nil {
		jm.deleteJob(job)
		return
	}
	if ref := metav1.GetControllerOf(job); ref != nil {
		if cj := jm.resolveControllerRef(job.Namespace, ref); cj != nil {
			controllers.Enqueue(jm.queue, cj)
		}
	}
}

func (jm *Controller) updateJob(old, cur interface{}) {
	oldJob, curJob := old.(*batchv1.Job), cur.(*batchv1.Job)
	if curJob.ResourceVersion == oldJob.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOf(curJob), metav1.GetControllerOf(oldJob)
	if !reflect.DeepEqual(curRef, oldRef) && oldRef != nil {
		if cj := jm.resolveControllerRef(oldJob.Namespace, oldRef); cj != nil {
			controllers.Enqueue(jm.queue, cj)
		}
	}
	if curRef != nil {
		if cj := jm.resolveControllerRef(curJob.Namespace, curRef); cj != nil {
			controllers.Enqueue(jm.queue, cj)
		}
	}
}

func (jm *Controller) deleteJob(obj interface{}) {
	job, ok := controllers.DeletedObject[*batchv1.Job](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(job); ref != nil {
		if cj := jm.resolveControllerRef(job.Namespace, ref); cj != nil {
			controllers.Enqueue(jm.queue, cj)
		}
	}
}

// updateCronJob requeues for the new schedule's next time when the schedule or
// time zone changed, and now otherwise.
func (jm *Controller) updateCronJob(logger klog.Logger, old, cur interface{}) {
	oldCJ, ok1 := old.(*batchv1.CronJob)
	newCJ, ok2 := cur.(*batchv1.CronJob)
	if !ok1 || !ok2 {
		return
	}
	if oldCJ.Spec.Schedule != newCJ.Spec.Schedule || !equalStringPtr(oldCJ.Spec.TimeZone, newCJ.Spec.TimeZone) {
		sched, err := cron.ParseStandard(formatSchedule(newCJ, nil))
		if err != nil {
			logger.V(2).Info("Unparseable schedule for cronjob", "cronjob", klog.KObj(newCJ), "schedule", newCJ.Spec.Schedule, "err", err)
			jm.recorder.Eventf(newCJ, corev1.EventTypeWarning, "UnParseableCronJobSchedule", "unparseable schedule for cronjob: %s", newCJ.Spec.Schedule)
			return
		}
		if key, ok := controllers.Key(newCJ); ok {
			jm.queue.AddAfter(key, nextScheduleTimeDuration(newCJ, jm.now(), sched))
		}
		return
	}
	controllers.Enqueue(jm.queue, cur)
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
