package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// jobTimeout bounds each wait on a job: simulated pods exit after a second, and a
// failed pod is replaced after 10 s of backoff, so this matters only when broken.
const jobTimeout = 2 * time.Minute

// TestJobs drives the job, ttl-after-finished and pod GC controllers on a server
// with simulated nodes: pods run and exit as their annotations script.
func TestJobs(t *testing.T) {
	s := schedServer(t)
	t.Run("group", func(t *testing.T) {
		t.Run("CompletionsAndKubectlWait", func(t *testing.T) { t.Parallel(); testJobCompletes(t, s) })
		t.Run("Indexed", func(t *testing.T) { t.Parallel(); testJobIndexed(t, s) })
		t.Run("BackoffLimitExceeded", func(t *testing.T) { t.Parallel(); testJobBackoffLimit(t, s) })
		t.Run("DeadlineExceeded", func(t *testing.T) { t.Parallel(); testJobDeadline(t, s) })
		t.Run("PodFailurePolicyFailJob", func(t *testing.T) { t.Parallel(); testJobPodFailurePolicy(t, s) })
		t.Run("SuspendResume", func(t *testing.T) { t.Parallel(); testJobSuspend(t, s) })
		t.Run("TTLAfterFinished", func(t *testing.T) { t.Parallel(); testJobTTL(t, s) })
		t.Run("PodGCOrphans", func(t *testing.T) { t.Parallel(); testPodGCOrphans(t, s) })
	})
}

// simJob is a job whose pods exit after a second with exitCode.
func simJob(name string, completions, parallelism int32, exitCode int) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions: &completions, Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
					"sim.skiff.io/exit-after": "1s", "sim.skiff.io/exit-code": fmt.Sprint(exitCode)}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "work", Image: "registry.example/work:1"}}},
			},
		},
	}
}

func createJob(t *testing.T, c kubernetes.Interface, ns string, j *batchv1.Job) *batchv1.Job {
	t.Helper()
	created, err := c.BatchV1().Jobs(ns).Create(context.Background(), j, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create job %s: %v", j.Name, err)
	}
	return created
}

// waitJob waits for the job's condition typ to be True and returns the job.
func waitJob(t *testing.T, c kubernetes.Interface, ns, name string, typ batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	eventually(t, jobTimeout, func() error {
		j, err := c.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		job = j
		if jobCondition(j, typ) == nil {
			return fmt.Errorf("job %s has no %s condition: %+v", name, typ, j.Status)
		}
		return nil
	})
	return job
}

func jobCondition(j *batchv1.Job, typ batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if c := &j.Status.Conditions[i]; c.Type == typ && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// wantJobCondition checks the job's condition typ has reason and message.
func wantJobCondition(t *testing.T, j *batchv1.Job, typ batchv1.JobConditionType, reason, message string) {
	t.Helper()
	c := jobCondition(j, typ)
	if c == nil || c.Reason != reason || c.Message != message {
		t.Errorf("job %s condition %s = %+v, want %s %q", j.Name, typ, c, reason, message)
	}
}

func jobPods(t *testing.T, c kubernetes.Interface, ns, job string) []corev1.Pod {
	t.Helper()
	pods, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func testJobCompletes(t *testing.T, s *framework.Server) {
	c := s.Client
	ns := schedNamespace(t, c)
	job := createJob(t, c, ns, simJob("pi", 3, 2, 0))
	out := s.Kubectl(t, "wait", "--for=condition=complete", "job/pi", "-n", ns, "--timeout=120s")
	mustContain(t, out, "job.batch/pi condition met")
	j := waitJob(t, c, ns, "pi", batchv1.JobComplete)
	if j.Status.Succeeded != 3 || j.Status.Active != 0 || j.Status.Failed != 0 || j.Status.StartTime == nil || j.Status.CompletionTime == nil ||
		j.Status.Ready == nil || *j.Status.Ready != 0 || j.Status.Terminating == nil || *j.Status.Terminating != 0 {
		t.Errorf("status = %+v", j.Status)
	}
	if u := j.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("uncounted pods left: %+v", u)
	}
	wantJobCondition(t, j, batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods")
	wantJobCondition(t, j, batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods")
	pods := jobPods(t, c, ns, "pi")
	if len(pods) != 3 {
		t.Errorf("%d pods, want 3", len(pods))
	}
	for _, p := range pods {
		if p.Labels["job-name"] != "pi" || p.Labels[batchv1.ControllerUidLabel] != string(job.UID) || p.Labels["controller-uid"] != string(job.UID) {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
		if len(p.Finalizers) != 0 {
			t.Errorf("pod %s still has finalizers %v", p.Name, p.Finalizers)
		}
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != job.UID {
			t.Errorf("pod %s owner %+v", p.Name, p.OwnerReferences)
		}
		if p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("pod %s phase %s", p.Name, p.Status.Phase)
		}
	}
	waitEvent(t, c, ns, "Job", "pi", "SuccessfulCreate", "Created pod: pi-")
	waitEvent(t, c, ns, "Job", "pi", "Completed", "Job completed")
	mustContain(t, s.Kubectl(t, "get", "job", "pi", "-n", ns), "Complete", "3/3")
}

func testJobIndexed(t *testing.T, s *framework.Server) {
	c := s.Client
	ns := schedNamespace(t, c)
	j := simJob("idx", 3, 3, 0)
	mode := batchv1.IndexedCompletion
	j.Spec.CompletionMode = &mode
	j.Spec.Template.Spec.Subdomain = "workers"
	createJob(t, c, ns, j)
	done := waitJob(t, c, ns, "idx", batchv1.JobComplete)
	if done.Status.CompletedIndexes != "0-2" || done.Status.Succeeded != 3 {
		t.Errorf("status = %+v", done.Status)
	}
	seen := map[string]bool{}
	for _, p := range jobPods(t, c, ns, "idx") {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		seen[ix] = true
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "idx-"+ix || p.Spec.Subdomain != "workers" ||
			!strings.HasPrefix(p.Name, "idx-"+ix+"-") {
			t.Errorf("pod %s: index label %q annotation %q hostname %q subdomain %q",
				p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], ix, p.Spec.Hostname, p.Spec.Subdomain)
		}
		var env []string
		for _, e := range p.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				env = append(env, e.Name+"="+e.ValueFrom.FieldRef.FieldPath)
			}
		}
		if len(env) != 1 || env[0] != "JOB_COMPLETION_INDEX=metadata.labels['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod %s env %v", p.Name, env)
		}
	}
	if len(seen) != 3 || !seen["0"] || !seen["1"] || !seen["2"] {
		t.Errorf("indexes seen: %v", seen)
	}
}

func testJobBackoffLimit(t *testing.T, s *framework.Server) {
	c := s.Client
	ns := schedNamespace(t, c)
	j := simJob("fails", 1, 1, 1)
	one := int32(1)
	j.Spec.BackoffLimit = &one
	createJob(t, c, ns, j)
	failed := waitJob(t, c, ns, "fails", batchv1.JobFailed)
	wantJobCondition(t, failed, batchv1.JobFailureTarget, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	wantJobCondition(t, failed, batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	if failed.Status.Failed != 2 || failed.Status.Succeeded != 0 || failed.Status.CompletionTime != nil {
		t.Errorf("status = %+v", failed.Status)
	}
	if n := len(jobPods(t, c, ns, "fails")); n != 2 {
		t.Errorf("%d pods, want 2 (the first and its replacement)", n)
	}
	waitEvent(t, c, ns, "Job", "fails", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	mustContain(t, s.Kubectl(t, "get", "job", "fails", "-n", ns), "Failed", "0/1")
}

func testJobDeadline(t *testing.T, s *framework.Server) {
	c := s.Client
	ns := schedNamespace(t, c)
	j := simJob("slow", 1, 1, 0)
	delete(j.Spec.Template.Annotations, "sim.skiff.io/exit-after") // runs forever
	ads := int64(3)
	j.Spec.ActiveDeadlineSeconds = &ads
	createJob(t, c, ns, j)
	failed := waitJob(t, c, ns, "slow", batchv1.JobFailed)
	wantJobCondition(t, failed, batchv1.JobFailed, "DeadlineExceeded", "Job was active longer than specified deadline")
	if failed.Status.Active != 0 {
		t.Errorf("status = %+v", failed.Status)
	}
	waitEvent(t, c, ns, "Job", "slow", "DeadlineExceeded", "Job was active longer than specified deadline")
	// The running pod was deleted when the job failed.
	eventually(t, jobTimeout, func() error {
		if pods := jobPods(t, c, ns, "slow"); len(pods) != 0 {
			return fmt.Errorf("%d pods left", len(pods))
		}
		return nil
	})
}

func testJobPodFailurePolicy(t *testing.T, s *framework.Server) {
	c := s.Client
	ns := schedNamespace(t, c)
	j := simJob("policy", 2, 2, 42)
	j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
	}}
	created := createJob(t, c, ns, j)
	if p := created.Spec.PodReplacementPolicy; p == nil || *p != batchv1.Failed {
		t.Errorf("podReplacementPolicy = %v, want Failed under a pod failure policy", p)
	}
	failed := waitJob(t, c, ns, "policy", batchv1.JobFailed)
	ft := jobCondition(failed, batchv1.JobFailureTarget)
	fc := jobCondition(failed, batchv1.JobFailed)
	if ft == nil || fc == nil || fc.Reason != "PodFailurePolicy" || ft.Reason != "PodFailurePolicy" ||
		!strings.HasPrefix(fc.Message, "Container work for pod "+ns+"/policy-") ||
		!strings.HasSuffix(fc.Message, " failed with exit code 42 matching FailJob rule at index 1") {
		t.Errorf("conditions = %+v", failed.Status.Conditions)
	}
	waitEvent(t, c, ns, "Job", "policy", "PodFailurePolicy", "Container work for pod "+ns+"/policy-")
}

func testJobSuspend(t *testing.T, s *framework.Server) {
	c := s.Client
	ns := schedNamespace(t, c)
	j := simJob("later", 2, 2, 0)
	yes := true
	j.Spec.Suspend = &yes
	createJob(t, c, ns, j)
	eventually(t, jobTimeout, func() error {
		got, err := c.BatchV1().Jobs(ns).Get(context.Background(), "later", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if jobCondition(got, batchv1.JobSuspended) == nil {
			return fmt.Errorf("not suspended: %+v", got.Status)
		}
		wantJobCondition(t, got, batchv1.JobSuspended, "JobSuspended", "Job suspended")
		if got.Status.StartTime != nil || got.Status.Active != 0 {
			t.Errorf("suspended job status = %+v", got.Status)
		}
		return nil
	})
	waitEvent(t, c, ns, "Job", "later", "Suspended", "Job suspended")
	if n := len(jobPods(t, c, ns, "later")); n != 0 {
		t.Fatalf("suspended job has %d pods", n)
	}
	if _, err := c.BatchV1().Jobs(ns).Patch(context.Background(), "later", types.MergePatchType,
		[]byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	done := waitJob(t, c, ns, "later", batchv1.JobComplete)
	if sc := findJobCondition(done, batchv1.JobSuspended); sc == nil || sc.Status != corev1.ConditionFalse || sc.Reason != "JobResumed" || sc.Message != "Job resumed" {
		t.Errorf("Suspended condition after resume = %+v", sc)
	}
	waitEvent(t, c, ns, "Job", "later", "Resumed", "Job resumed")
}

func findJobCondition(j *batchv1.Job, typ batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == typ {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func testJobTTL(t *testing.T, s *framework.Server) {
	c := s.Client
	ns := schedNamespace(t, c)
	j := simJob("brief", 1, 1, 0)
	ttl := int32(2)
	j.Spec.TTLSecondsAfterFinished = &ttl
	createJob(t, c, ns, j)
	waitJob(t, c, ns, "brief", batchv1.JobComplete)
	eventually(t, jobTimeout, func() error {
		_, err := c.BatchV1().Jobs(ns).Get(context.Background(), "brief", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("job still there: %v", err)
		}
		return nil
	})
	// Background propagation: the garbage collector removes the pods too.
	eventually(t, jobTimeout, func() error {
		if pods := jobPods(t, c, ns, "brief"); len(pods) != 0 {
			return fmt.Errorf("%d pods left", len(pods))
		}
		return nil
	})
}

// testPodGCOrphans: a pod bound to a node that is deleted is marked with the
// DisruptionTarget condition and force-deleted after the node's quarantine.
func testPodGCOrphans(t *testing.T, s *framework.Server) {
	c := s.Client
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := schedNamespace(t, c)
	nodeName := fmt.Sprintf("ghost-%d", time.Now().UnixNano())
	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stranded"},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}}}
	created, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=stranded", ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := c.CoreV1().Nodes().Delete(ctx, nodeName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var marked *corev1.PodCondition
	var phase corev1.PodPhase
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.DisruptionTarget {
				marked, phase = &p.Status.Conditions[i], p.Status.Phase
			}
		}
		if ev.Type == watch.Deleted {
			break
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the orphaned pod was not deleted")
	}
	if marked == nil || marked.Status != corev1.ConditionTrue || marked.Reason != "DeletionByPodGC" || marked.Message != "PodGC: node no longer exists" || phase != corev1.PodFailed {
		b, _ := json.Marshal(marked)
		t.Errorf("DisruptionTarget before deletion = %s, phase %s", b, phase)
	}
}
