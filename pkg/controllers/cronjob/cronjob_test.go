package cronjob

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func newCronJob(schedule string, created time.Time) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default", UID: "cj-uid", CreationTimestamp: metav1.NewTime(created)},
		Spec: batchv1.CronJobSpec{Schedule: schedule, ConcurrencyPolicy: batchv1.AllowConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "hello"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}},
	}
}

func newTestController(now time.Time, objs ...runtime.Object) (*Controller, *fake.Clientset, *record.FakeRecorder) {
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	jm := newController(client, rec, f.Batch().V1().Jobs().Lister(), f.Batch().V1().CronJobs().Lister())
	for _, o := range objs {
		switch o := o.(type) {
		case *batchv1.Job:
			_ = f.Batch().V1().Jobs().Informer().GetIndexer().Add(o)
		case *batchv1.CronJob:
			_ = f.Batch().V1().CronJobs().Informer().GetIndexer().Add(o)
		}
	}
	jm.now = func() time.Time { return now }
	return jm, client, rec
}

func drain(rec *record.FakeRecorder) string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return strings.Join(out, "\n")
		}
	}
}

func TestCreatesTheDueJob(t *testing.T) {
	created := time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)
	now := created.Add(40 * time.Second) // 10:01:10, one minute due
	cj := newCronJob("* * * * *", created)
	jm, client, rec := newTestController(now, cj)
	if err := jm.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	scheduled := time.Date(2026, 3, 1, 10, 1, 0, 0, time.UTC)
	name := "hello-" + itoa(scheduled.Unix()/60)
	job, err := client.BatchV1().Jobs("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("job %s: %v", name, err)
	}
	if job.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2026-03-01T10:01:00Z" || job.Labels["app"] != "hello" {
		t.Errorf("job meta: %v %v", job.Annotations, job.Labels)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.Kind != "CronJob" || ref.UID != "cj-uid" {
		t.Errorf("owner %+v", job.OwnerReferences)
	}
	got, _ := client.BatchV1().CronJobs("default").Get(context.Background(), "hello", metav1.GetOptions{})
	if len(got.Status.Active) != 1 || got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Time.Equal(scheduled) {
		t.Errorf("status %+v", got.Status)
	}
	if ev := drain(rec); !strings.Contains(ev, "SuccessfulCreate Created job "+name) {
		t.Errorf("events %q", ev)
	}
}

func TestTimeZoneAndMissedDeadline(t *testing.T) {
	created := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cj := newCronJob("0 9 * * *", created)
	tz := "Europe/Berlin"
	cj.Spec.TimeZone = &tz
	// 08:05 UTC is 09:05 in Berlin (CET, UTC+1).
	now := time.Date(2026, 3, 1, 8, 5, 0, 0, time.UTC)
	sd := int64(60)
	cj.Spec.StartingDeadlineSeconds = &sd
	jm, client, rec := newTestController(now, cj)
	if err := jm.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	jobs, _ := client.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	if len(jobs.Items) != 0 {
		t.Fatalf("started %d jobs past the starting deadline", len(jobs.Items))
	}
	_ = rec
	// Without the deadline it starts, annotated in Berlin time.
	cj.Spec.StartingDeadlineSeconds = nil
	jm, client, _ = newTestController(now, cj)
	if err := jm.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	jobs, _ = client.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	if len(jobs.Items) != 1 || jobs.Items[0].Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2026-03-01T09:00:00+01:00" {
		t.Fatalf("jobs %+v", jobs.Items)
	}
}

func TestForbidSkipsWhileActive(t *testing.T) {
	created := time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)
	cj := newCronJob("* * * * *", created)
	cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
	running := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "hello-1", Namespace: "default", UID: "j1",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "hello", UID: "cj-uid", Controller: func() *bool { b := true; return &b }()}}}}
	cj.Status.Active = []corev1.ObjectReference{{Kind: "Job", Namespace: "default", Name: "hello-1", UID: "j1"}}
	jm, client, rec := newTestController(created.Add(40*time.Second), cj, running)
	if err := jm.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	jobs, _ := client.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	if len(jobs.Items) != 1 {
		t.Fatalf("%d jobs, want the running one only", len(jobs.Items))
	}
	if ev := drain(rec); !strings.Contains(ev, "JobAlreadyActive") {
		t.Errorf("events %q", ev)
	}
}

func TestHistoryLimitsPruneOldestFinished(t *testing.T) {
	created := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	cj := newCronJob("0 0 1 1 *", created)
	one := int32(1)
	cj.Spec.SuccessfulJobsHistoryLimit = &one
	var objs []runtime.Object
	objs = append(objs, cj)
	for i, n := range []string{"hello-a", "hello-b", "hello-c"} {
		st := metav1.NewTime(created.Add(time.Duration(i) * time.Minute))
		objs = append(objs, &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: "default", UID: types.UID("u-" + n),
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "hello", UID: "cj-uid", Controller: func() *bool { b := true; return &b }()}}},
			Status: batchv1.JobStatus{StartTime: &st, CompletionTime: &st,
				Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}},
		})
	}
	jm, client, rec := newTestController(created.Add(time.Hour), objs...)
	if err := jm.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	jobs, _ := client.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	if len(jobs.Items) != 1 || jobs.Items[0].Name != "hello-c" {
		t.Fatalf("left %+v, want hello-c", jobs.Items)
	}
	if ev := drain(rec); strings.Count(ev, "SuccessfulDelete") != 2 {
		t.Errorf("events %q", ev)
	}
	got, _ := client.BatchV1().CronJobs("default").Get(context.Background(), "hello", metav1.GetOptions{})
	if got.Status.LastSuccessfulTime == nil {
		t.Errorf("no lastSuccessfulTime: %+v", got.Status)
	}
}

func TestManyMissedSchedules(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cj := newCronJob("* * * * *", created)
	sched, _ := cron.ParseStandard(cj.Spec.Schedule)
	now := created.Add(5 * time.Hour)
	_, recent, missed, err := mostRecentScheduleTime(cj, now, sched, true)
	if err != nil || missed != manyMissed || recent == nil || !recent.Equal(now) {
		t.Fatalf("recent %v missed %v err %v", recent, missed, err)
	}
	if d := nextScheduleTimeDuration(cj, created.Add(30*time.Second), sched); d != 30*time.Second+nextScheduleDelta {
		t.Errorf("next in %v", d)
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
