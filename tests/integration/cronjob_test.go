package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// TestCronJob: a CronJob on "* * * * *" starts a job at the next minute (the test
// waits for a real schedule, up to about 70 s), named after the scheduled minute and
// annotated with the scheduled time; the job completes on a simulated node, the
// CronJob records it, and the history limits prune older finished jobs (the manual
// run included, once the scheduled run is the newest).
// `kubectl create job --from=cronjob/…` works too.
func TestCronJob(t *testing.T) {
	s := schedServer(t)
	c := s.Client
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := schedNamespace(t, c)

	one, zero := int32(1), int32(0)
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick"},
		Spec: batchv1.CronJobSpec{
			Schedule: "* * * * *", SuccessfulJobsHistoryLimit: &one, FailedJobsHistoryLimit: &zero,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tick"}},
				Spec:       simJob("", 1, 1, 0).Spec,
			},
		},
	}
	created, err := c.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Finished jobs from "earlier runs", kept away from the job controller by
	// managedBy so that the test can write their status.
	old := time.Now().Add(-time.Hour)
	for i, spec := range []struct {
		name string
		cond batchv1.JobConditionType
	}{{"tick-old-1", batchv1.JobComplete}, {"tick-old-2", batchv1.JobComplete}, {"tick-old-failed", batchv1.JobFailed}} {
		createFinishedJob(t, c, ns, spec.name, created, spec.cond, old.Add(time.Duration(i)*time.Minute))
	}

	// A manual run, client-side, from the CronJob's template.
	mustContain(t, s.Kubectl(t, "create", "job", "manual", "--from=cronjob/tick", "-n", ns), "job.batch/manual created")
	manual, err := c.BatchV1().Jobs(ns).Get(ctx, "manual", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(manual); ref == nil || ref.Kind != "CronJob" || ref.UID != created.UID || manual.Annotations["cronjob.kubernetes.io/instantiate"] != "manual" {
		t.Errorf("manual job owner %+v annotations %v", manual.OwnerReferences, manual.Annotations)
	}

	// The scheduled run.
	var scheduled *batchv1.Job
	eventually(t, 100*time.Second, func() error {
		list, err := c.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for i := range list.Items {
			j := &list.Items[i]
			if strings.HasPrefix(j.Name, "tick-") && !strings.HasPrefix(j.Name, "tick-old") {
				scheduled = j
				return nil
			}
		}
		return fmt.Errorf("no scheduled job yet among %d", len(list.Items))
	})
	minutes, err := strconv.ParseInt(strings.TrimPrefix(scheduled.Name, "tick-"), 10, 64)
	if err != nil {
		t.Fatalf("job name %s: %v", scheduled.Name, err)
	}
	at := time.Unix(minutes*60, 0).UTC()
	if got := scheduled.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != at.Format(time.RFC3339) {
		t.Errorf("scheduled-timestamp annotation %q, want %q", got, at.Format(time.RFC3339))
	}
	if ref := metav1.GetControllerOf(scheduled); ref == nil || ref.UID != created.UID || scheduled.Labels["app"] != "tick" {
		t.Errorf("scheduled job owner %+v labels %v", scheduled.OwnerReferences, scheduled.Labels)
	}
	waitEvent(t, c, ns, "CronJob", "tick", "SuccessfulCreate", "Created job "+scheduled.Name)
	// No further runs: a second one would prune this one (the limit keeps one).
	if _, err := c.BatchV1().CronJobs(ns).Patch(ctx, "tick", types.MergePatchType, []byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	// It completes; the CronJob sees it and keeps one successful job only.
	waitJob(t, c, ns, scheduled.Name, batchv1.JobComplete)
	waitEvent(t, c, ns, "CronJob", "tick", "SawCompletedJob", "Saw completed job: "+scheduled.Name+", status: Complete")
	eventually(t, jobTimeout, func() error {
		got, err := c.BatchV1().CronJobs(ns).Get(ctx, "tick", metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := got.Status
		if st.LastScheduleTime == nil || !st.LastScheduleTime.Time.Equal(at) || st.LastSuccessfulTime == nil {
			return fmt.Errorf("status %+v", st)
		}
		for _, a := range st.Active {
			if a.Name == scheduled.Name {
				return fmt.Errorf("finished job still active: %+v", st.Active)
			}
		}
		return nil
	})
	eventually(t, jobTimeout, func() error {
		for _, name := range []string{"tick-old-1", "tick-old-2", "tick-old-failed"} {
			if _, err := c.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
				return fmt.Errorf("%s not pruned", name)
			}
		}
		return nil
	})
	waitEvent(t, c, ns, "CronJob", "tick", "SuccessfulDelete", "Deleted job tick-old-")
	// The manual run, older than the scheduled one, is pruned as well.
	eventually(t, jobTimeout, func() error {
		if _, err := c.BatchV1().Jobs(ns).Get(ctx, "manual", metav1.GetOptions{}); err == nil {
			return fmt.Errorf("manual job not pruned")
		}
		return nil
	})
	mustContain(t, s.Kubectl(t, "get", "cronjob", "tick", "-n", ns), "* * * * *", "True")
}

// createFinishedJob creates a job owned by cj that another controller manages, and
// writes a finished status on it.
func createFinishedJob(t *testing.T, c kubernetes.Interface, ns, name string, cj *batchv1.CronJob, cond batchv1.JobConditionType, started time.Time) {
	t.Helper()
	ctx := context.Background()
	j := simJob(name, 1, 1, 0)
	other := "example.com/elsewhere"
	j.Spec.ManagedBy = &other
	yes := true
	j.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: &yes}}
	j, err := c.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, done := metav1.NewTime(started), metav1.NewTime(started.Add(time.Second))
	j.Status.StartTime = &st
	interim := batchv1.JobSuccessCriteriaMet
	if cond == batchv1.JobFailed {
		interim = batchv1.JobFailureTarget
	} else {
		j.Status.CompletionTime = &done
		j.Status.Succeeded = 1
	}
	for _, typ := range []batchv1.JobConditionType{interim, cond} {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue,
			Reason: "ByTest", LastTransitionTime: done, LastProbeTime: done})
	}
	if _, err := c.BatchV1().Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("status of %s: %v", name, err)
	}
}
