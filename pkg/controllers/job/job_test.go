package job

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	jm       *Controller
	jobs     cache.Indexer
	pods     cache.Indexer
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	var n atomic.Int32
	// The fake tracker does not generate names.
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, n.Add(1))
			p.UID = types.UID(p.Name)
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	jm := newController(client, rec, f.Batch().V1().Jobs().Lister(), f.Core().V1().Pods().Lister())
	fx := &fixture{t: t, client: client, jm: jm, recorder: rec,
		jobs: f.Batch().V1().Jobs().Informer().GetIndexer(), pods: f.Core().V1().Pods().Informer().GetIndexer()}
	for _, o := range objs {
		switch o := o.(type) {
		case *batchv1.Job:
			_ = fx.jobs.Add(o)
		case *corev1.Pod:
			_ = fx.pods.Add(o)
		}
	}
	return fx
}

func (f *fixture) sync(job *batchv1.Job) *batchv1.Job {
	f.t.Helper()
	if err := f.jm.syncJob(context.Background(), job.Namespace+"/"+job.Name); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	got, err := f.client.BatchV1().Jobs(job.Namespace).Get(context.Background(), job.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	_ = f.jobs.Update(got)
	return got
}

// createdPods returns the pods the controller created through the API.
func (f *fixture) createdPods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.client.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, c.GetObject().(*corev1.Pod))
		}
	}
	return out
}

func (f *fixture) events() string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return strings.Join(out, "\n")
		}
	}
}

func int32p(i int32) *int32 { return &i }

func newJob(completions, parallelism int32) *batchv1.Job {
	mode := batchv1.NonIndexedCompletion
	repl := batchv1.TerminatingOrFailed
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Completions: int32p(completions), Parallelism: int32p(parallelism), BackoffLimit: int32p(6),
			CompletionMode: &mode, Suspend: new(bool), PodReplacementPolicy: &repl,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "job-uid"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
					batchv1.ControllerUidLabel: "job-uid", batchv1.JobNameLabel: "pi", "controller-uid": "job-uid", "job-name": "pi"}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

// podOf is a pod of job as the controller creates it, in phase.
func podOf(job *batchv1.Job, name string, phase corev1.PodPhase) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: job.Namespace, UID: types.UID(name),
			Labels:          job.Spec.Template.Labels,
			Finalizers:      []string{batchv1.JobTrackingFinalizer},
			OwnerReferences: []metav1.OwnerReference{*newRef(job)}},
		Spec:   job.Spec.Template.Spec,
		Status: corev1.PodStatus{Phase: phase},
	}
	return p
}

func newRef(job *batchv1.Job) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: &t, BlockOwnerDeletion: &t}
}

func exited(p *corev1.Pod, code int32, at time.Time) *corev1.Pod {
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: metav1.NewTime(at)}}}}
	return p
}

func condition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	return trueCondition(j, t)
}

func TestCreatesPodsUpToParallelismWithTrackingFinalizer(t *testing.T) {
	job := newJob(3, 2)
	f := newFixture(t, job)
	got := f.sync(job)
	pods := f.createdPods()
	if len(pods) != 2 {
		t.Fatalf("created %d pods, want 2", len(pods))
	}
	for _, p := range pods {
		if !hasTrackingFinalizer(p) {
			t.Errorf("pod %s has no tracking finalizer", p.Name)
		}
		if p.Labels[batchv1.JobNameLabel] != "pi" || !strings.HasPrefix(p.GenerateName, "pi-") {
			t.Errorf("pod %s: labels %v generateName %q", p.Name, p.Labels, p.GenerateName)
		}
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != job.UID {
			t.Errorf("pod %s is not controlled by the job", p.Name)
		}
	}
	if got.Status.Active != 2 || got.Status.StartTime == nil || got.Status.Ready == nil || got.Status.Terminating == nil {
		t.Errorf("status = %+v", got.Status)
	}
	if ev := f.events(); !strings.Contains(ev, "SuccessfulCreate") {
		t.Errorf("events = %q", ev)
	}
}

func TestIndexedJobPodsCarryTheirIndex(t *testing.T) {
	job := newJob(3, 3)
	mode := batchv1.IndexedCompletion
	job.Spec.CompletionMode = &mode
	f := newFixture(t, job)
	f.sync(job)
	pods := f.createdPods()
	if len(pods) != 3 {
		t.Fatalf("created %d pods, want 3", len(pods))
	}
	seen := map[string]bool{}
	for _, p := range pods {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		seen[ix] = true
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix {
			t.Errorf("pod %s: label %q, annotation %q", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], ix)
		}
		if p.Spec.Hostname != "pi-"+ix || p.GenerateName != "pi-"+ix+"-" {
			t.Errorf("pod %s: hostname %q generateName %q", p.Name, p.Spec.Hostname, p.GenerateName)
		}
		if env := p.Spec.Containers[0].Env; len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" {
			t.Errorf("pod %s: env %v", p.Name, env)
		}
	}
	if !seen["0"] || !seen["1"] || !seen["2"] {
		t.Errorf("indexes %v", seen)
	}
}

func TestSucceededPodIsCountedThenFinalizerRemovedAndJobCompletes(t *testing.T) {
	job := newJob(1, 1)
	pod := exited(podOf(job, "pi-a", corev1.PodSucceeded), 0, time.Now())
	f := newFixture(t, job, pod)
	got := f.sync(job)
	if got.Status.Succeeded != 1 || len(got.Status.UncountedTerminatedPods.Succeeded) != 0 {
		t.Errorf("status = %+v", got.Status)
	}
	scm, complete := condition(got, batchv1.JobSuccessCriteriaMet), condition(got, batchv1.JobComplete)
	if scm == nil || complete == nil || complete.Reason != "CompletionsReached" || complete.Message != "Reached expected number of succeeded pods" {
		t.Fatalf("conditions = %+v", got.Status.Conditions)
	}
	if got.Status.CompletionTime == nil {
		t.Error("no completionTime")
	}
	p, _ := f.client.CoreV1().Pods("default").Get(context.Background(), "pi-a", metav1.GetOptions{})
	if hasTrackingFinalizer(p) {
		t.Error("finalizer not removed")
	}
	if ev := f.events(); !strings.Contains(ev, "Normal Completed Job completed") {
		t.Errorf("events = %q", ev)
	}
}

func TestBackoffLimitExceeded(t *testing.T) {
	job := newJob(1, 1)
	job.Spec.BackoffLimit = int32p(0)
	pod := exited(podOf(job, "pi-a", corev1.PodFailed), 1, time.Now())
	f := newFixture(t, job, pod)
	got := f.sync(job)
	ft, failed := condition(got, batchv1.JobFailureTarget), condition(got, batchv1.JobFailed)
	if ft == nil || failed == nil || failed.Reason != "BackoffLimitExceeded" || failed.Message != "Job has reached the specified backoff limit" {
		t.Fatalf("conditions = %+v", got.Status.Conditions)
	}
	if got.Status.Failed != 1 {
		t.Errorf("failed = %d", got.Status.Failed)
	}
	if ev := f.events(); !strings.Contains(ev, "Warning BackoffLimitExceeded Job has reached the specified backoff limit") {
		t.Errorf("events = %q", ev)
	}
}

func TestFailedPodIsReplacedAfterBackoff(t *testing.T) {
	job := newJob(1, 1)
	pod := exited(podOf(job, "pi-a", corev1.PodFailed), 1, time.Now())
	f := newFixture(t, job, pod)
	got := f.sync(job)
	if got.Status.Failed != 1 || len(f.createdPods()) != 0 {
		t.Fatalf("failed = %d, created %d pods during the backoff", got.Status.Failed, len(f.createdPods()))
	}
	// Ten seconds later the replacement is due.
	f.jm.now = func() time.Time { return time.Now().Add(11 * time.Second) }
	p, _ := f.client.CoreV1().Pods("default").Get(context.Background(), "pi-a", metav1.GetOptions{})
	_ = f.pods.Update(p)
	f.sync(got)
	if n := len(f.createdPods()); n != 1 {
		t.Errorf("created %d pods after the backoff, want 1", n)
	}
}

func TestPodFailurePolicyFailJobOnExitCode(t *testing.T) {
	job := newJob(2, 2)
	repl := batchv1.Failed
	job.Spec.PodReplacementPolicy = &repl
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:      batchv1.PodFailurePolicyActionFailJob,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
	}}}
	failedPod := exited(podOf(job, "pi-a", corev1.PodFailed), 42, time.Now())
	running := podOf(job, "pi-b", corev1.PodRunning)
	f := newFixture(t, job, failedPod, running)
	got := f.sync(job)
	ft := condition(got, batchv1.JobFailureTarget)
	want := "Container c for pod default/pi-a failed with exit code 42 matching FailJob rule at index 0"
	if ft == nil || ft.Reason != "PodFailurePolicy" || ft.Message != want {
		t.Fatalf("conditions = %+v", got.Status.Conditions)
	}
	// The running pod was deleted and still terminates: not Failed yet.
	if condition(got, batchv1.JobFailed) != nil || got.Status.Terminating == nil || *got.Status.Terminating != 1 {
		t.Fatalf("status = %+v", got.Status)
	}
	// Once the deleted pod is gone, the job fails.
	_ = f.pods.Delete(running)
	got = f.sync(got)
	if c := condition(got, batchv1.JobFailed); c == nil || c.Message != want {
		t.Fatalf("conditions = %+v", got.Status.Conditions)
	}
}

func TestPodFailurePolicyIgnoresDisruption(t *testing.T) {
	job := newJob(1, 1)
	job.Spec.BackoffLimit = int32p(0)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:          batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
	}}}
	pod := exited(podOf(job, "pi-a", corev1.PodFailed), 137, time.Now())
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
	f := newFixture(t, job, pod)
	got := f.sync(job)
	if got.Status.Failed != 0 || condition(got, batchv1.JobFailureTarget) != nil {
		t.Fatalf("status = %+v", got.Status)
	}
	// The replacement still waits for the failure backoff, as upstream.
	f.jm.now = func() time.Time { return time.Now().Add(11 * time.Second) }
	p, _ := f.client.CoreV1().Pods("default").Get(context.Background(), "pi-a", metav1.GetOptions{})
	_ = f.pods.Update(p)
	f.sync(got)
	if n := len(f.createdPods()); n != 1 {
		t.Errorf("created %d replacement pods, want 1", n)
	}
}

func TestSuspendDeletesPodsAndSetsCondition(t *testing.T) {
	job := newJob(2, 2)
	job.Spec.Suspend = func() *bool { b := true; return &b }()
	job.Status.StartTime = &metav1.Time{Time: time.Now()}
	running := podOf(job, "pi-a", corev1.PodRunning)
	f := newFixture(t, job, running)
	got := f.sync(job)
	c := condition(got, batchv1.JobSuspended)
	if c == nil || c.Reason != "JobSuspended" || c.Message != "Job suspended" || got.Status.Active != 0 {
		t.Fatalf("status = %+v", got.Status)
	}
	if _, err := f.client.CoreV1().Pods("default").Get(context.Background(), "pi-a", metav1.GetOptions{}); err == nil {
		t.Error("pod of the suspended job not deleted")
	}
	// Resume.
	got.Spec.Suspend = new(bool)
	_ = f.pods.Delete(running)
	f.jm.expectations.DeletionObserved("default/pi")
	got = f.sync(got)
	if c := findCondition(got.Status.Conditions, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "JobResumed" {
		t.Fatalf("conditions = %+v", got.Status.Conditions)
	}
	if ev := f.events(); !strings.Contains(ev, "Suspended") || !strings.Contains(ev, "Resumed") {
		t.Errorf("events = %q", ev)
	}
}

func TestActiveDeadlineExceeded(t *testing.T) {
	job := newJob(1, 1)
	ads := int64(5)
	job.Spec.ActiveDeadlineSeconds = &ads
	job.Status.StartTime = &metav1.Time{Time: time.Now().Add(-time.Minute)}
	f := newFixture(t, job)
	got := f.sync(job)
	if c := condition(got, batchv1.JobFailed); c == nil || c.Reason != "DeadlineExceeded" || c.Message != "Job was active longer than specified deadline" {
		t.Fatalf("conditions = %+v", got.Status.Conditions)
	}
}

func TestIndexedCompletedIndexes(t *testing.T) {
	job := newJob(3, 3)
	mode := batchv1.IndexedCompletion
	job.Spec.CompletionMode = &mode
	var objs []runtime.Object
	objs = append(objs, job)
	for i := 0; i < 3; i++ {
		p := podOf(job, fmt.Sprintf("pi-%d", i), corev1.PodSucceeded)
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(i)}
		objs = append(objs, p)
	}
	f := newFixture(t, objs...)
	got := f.sync(job)
	if got.Status.CompletedIndexes != "0-2" || got.Status.Succeeded != 3 || condition(got, batchv1.JobComplete) == nil {
		t.Fatalf("status = %+v", got.Status)
	}
}

func TestBackoffLimitPerIndex(t *testing.T) {
	job := newJob(2, 2)
	mode := batchv1.IndexedCompletion
	job.Spec.CompletionMode = &mode
	job.Spec.BackoffLimitPerIndex = int32p(0)
	failed := exited(podOf(job, "pi-0", corev1.PodFailed), 1, time.Now())
	failed.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: "0", batchv1.JobIndexFailureCountAnnotation: "0"}
	ok := podOf(job, "pi-1", corev1.PodSucceeded)
	ok.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: "1"}
	f := newFixture(t, job, failed, ok)
	got := f.sync(job)
	if got.Status.FailedIndexes == nil || *got.Status.FailedIndexes != "0" || got.Status.CompletedIndexes != "1" {
		t.Fatalf("status = %+v", got.Status)
	}
	if c := condition(got, batchv1.JobFailed); c == nil || c.Reason != "FailedIndexes" {
		t.Fatalf("conditions = %+v", got.Status.Conditions)
	}
}

func TestIntervals(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"", ""}, {"0", "0"}, {"0-2", "0-2"}, {"0,1", "0,1"}, {"0,1,2,5,7-9", "0-2,5,7-9"}, {"3-20", "3-9"},
	} {
		if got := parseIndexes(tc.in, 10).String(); got != tc.out {
			t.Errorf("parse(%q) = %q, want %q", tc.in, got, tc.out)
		}
	}
	oi := orderedIntervals{{0, 1}, {5, 5}}.withOrderedIndexes([]int{2, 4, 8})
	if oi.String() != "0-2,4,5,8" || !oi.has(4) || oi.has(3) || oi.total() != 6 {
		t.Errorf("merged = %s", oi)
	}
}

func TestBackoffDurations(t *testing.T) {
	now := time.Now()
	for failures, want := range map[int32]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 20: 10 * time.Minute} {
		if got := remainingForFailures(now, failures, &now); got != want {
			t.Errorf("%d failures: %v, want %v", failures, got, want)
		}
	}
}
