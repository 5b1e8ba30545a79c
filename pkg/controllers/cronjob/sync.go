package cronjob

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	ref "k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
)

// sync reconciles one CronJob: it prunes finished jobs beyond the history limits,
// updates the active list and the last times, starts the job that is due, writes
// the status once, and requeues the key for the next scheduled time.
func (jm *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	logger := klog.FromContext(ctx)
	cj, err := jm.cronJobLister.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	jobs, err := jm.jobsOf(cj)
	if err != nil {
		return err
	}
	cjCopy := cj.DeepCopy()
	updateAfterCleanup := jm.cleanupFinishedJobs(ctx, cjCopy, jobs)
	requeueAfter, updateAfterSync, syncErr := jm.syncCronJob(ctx, cjCopy, jobs)
	if syncErr != nil {
		logger.V(2).Info("Error reconciling cronjob", "cronjob", klog.KObj(cj), "err", syncErr)
	}
	if updateAfterCleanup || updateAfterSync {
		if _, err := jm.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cjCopy, metav1.UpdateOptions{}); err != nil {
			logger.V(2).Info("Unable to update status for cronjob", "cronjob", klog.KObj(cj), "resourceVersion", cj.ResourceVersion, "err", err)
			return err
		}
	}
	if requeueAfter != nil {
		jm.queue.AddAfter(key, *requeueAfter)
		return nil
	}
	// Suspended, or an unusable schedule: nothing until the spec changes.
	return syncErr
}

// jobsOf lists the jobs the CronJob controls, whatever their labels now are.
func (jm *Controller) jobsOf(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	all, err := jm.jobLister.Jobs(cj.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*batchv1.Job
	for _, j := range all {
		if r := metav1.GetControllerOf(j); r != nil && r.Name == cj.Name {
			out = append(out, j)
		}
	}
	return out, nil
}

// syncCronJob updates cj's status from its jobs and starts the due job. It returns
// when to requeue (nil: not until the spec changes) and whether the status changed.
func (jm *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (*time.Duration, bool, error) {
	logger := klog.FromContext(ctx)
	now := jm.now()
	update := false

	children := map[types.UID]bool{}
	for _, j := range jobs {
		children[j.UID] = true
		found := inActiveList(cj, j.UID)
		switch {
		case !found && !isJobFinished(j):
			fresh, err := jm.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{})
			if err != nil {
				return nil, update, err
			}
			if inActiveList(fresh, j.UID) {
				// Our cache was behind our own status write.
				*cj = *fresh
				continue
			}
			jm.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case found && isJobFinished(j):
			status, _ := finishedStatus(j)
			deleteFromActiveList(cj, j.UID)
			jm.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, status: %v", j.Name, status)
			update = true
		}
		if isJobSucceeded(j) && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			cj.Status.LastSuccessfulTime = j.Status.CompletionTime
			update = true
		}
	}

	// An active job that is gone would keep the CronJob "active" forever; ask the
	// API, not the cache, before dropping it.
	for _, a := range cj.Status.Active {
		if children[a.UID] {
			continue
		}
		_, err := jm.client.BatchV1().Jobs(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			jm.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", a.Name)
			deleteFromActiveList(cj, a.UID)
			update = true
		case err != nil:
			return nil, update, err
		}
	}

	if cj.DeletionTimestamp != nil {
		return nil, update, nil
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			jm.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", *tz, err)
			return nil, update, nil
		}
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		logger.V(4).Info("Not starting job because the cron is suspended", "cronjob", klog.KObj(cj))
		return nil, update, nil
	}
	sched, err := cron.ParseStandard(formatSchedule(cj, jm.recorder))
	if err != nil {
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, update, nil
	}
	scheduled, err := nextScheduleTime(cj, now, sched, jm.recorder)
	if err != nil {
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return nil, update, nil
	}
	next := func() *time.Duration { d := nextScheduleTimeDuration(cj, now, sched); return &d }
	if scheduled == nil {
		return next(), update, nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return next(), update, nil
	}
	if inActiveListByName(cj, cj.Namespace, jobName(cj, *scheduled)) ||
		(cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*scheduled)) {
		return next(), update, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(cj.Status.Active) > 0 {
		// A job we have not seen yet could still run concurrently; the deterministic
		// name at least stops the same time from running twice.
		jm.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
		return next(), update, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		for _, a := range slices.Clone(cj.Status.Active) {
			j, err := jm.client.BatchV1().Jobs(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
			if err != nil {
				jm.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedGet", "Get job: %v", err)
				return nil, update, err
			}
			if !jm.reapJob(ctx, cj, j) {
				return nil, update, fmt.Errorf("could not replace job %s/%s", j.Namespace, j.Name)
			}
			update = true
		}
	}

	req, err := jobFromTemplate(cj, *scheduled)
	if err != nil {
		return nil, update, err
	}
	created, err := jm.client.BatchV1().Jobs(cj.Namespace).Create(ctx, req, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, update, err
	case apierrors.IsAlreadyExists(err):
		// Created by us before a status write was lost, or by someone else.
		existing, err := jm.client.BatchV1().Jobs(cj.Namespace).Get(ctx, req.Name, metav1.GetOptions{})
		if err != nil {
			return nil, update, err
		}
		if !metav1.IsControlledBy(existing, cj) || inActiveList(cj, existing.UID) {
			return nil, update, nil
		}
		logger.Info("Job already exists", "cronjob", klog.KObj(cj), "job", klog.KObj(req))
		created = existing
	case err != nil:
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, update, err
	default:
		jm.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}

	jobRef, err := ref.GetReference(scheme.Scheme, created)
	if err != nil {
		return nil, update, fmt.Errorf("unable to make object reference for job for %s", klog.KObj(cj))
	}
	cj.Status.Active = append(cj.Status.Active, *jobRef)
	cj.Status.LastScheduleTime = &metav1.Time{Time: *scheduled}
	return next(), true, nil
}

// cleanupFinishedJobs deletes the oldest finished jobs beyond the history limits;
// it reports whether the status changed.
func (jm *Controller) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	if cj.Spec.FailedJobsHistoryLimit == nil && cj.Spec.SuccessfulJobsHistoryLimit == nil {
		return false
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch t, ok := finishedStatus(j); {
		case ok && t == batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case ok && t == batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	update := false
	if l := cj.Spec.SuccessfulJobsHistoryLimit; l != nil && jm.removeOldestJobs(ctx, cj, succeeded, *l) {
		update = true
	}
	if l := cj.Spec.FailedJobsHistoryLimit; l != nil && jm.removeOldestJobs(ctx, cj, failed, *l) {
		update = true
	}
	return update
}

func (jm *Controller) removeOldestJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int32) bool {
	n := len(jobs) - int(keep)
	if n <= 0 {
		return false
	}
	slices.SortFunc(jobs, byJobStartTime)
	update := false
	for _, j := range jobs[:n] {
		if jm.reapJob(ctx, cj, j) {
			update = true
		}
	}
	return update
}

// reapJob deletes a job with its pods (background propagation) and drops it
// from the active list.
func (jm *Controller) reapJob(ctx context.Context, cj *batchv1.CronJob, j *batchv1.Job) bool {
	bg := metav1.DeletePropagationBackground
	if err := jm.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		jm.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		klog.FromContext(ctx).Error(err, "Error deleting job from cronjob", "job", klog.KObj(j), "cronjob", klog.KObj(cj))
		return false
	}
	deleteFromActiveList(cj, j.UID)
	jm.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", j.Name)
	return true
}
