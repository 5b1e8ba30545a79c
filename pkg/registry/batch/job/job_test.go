package job

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newJob(mut func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: types.UID("u-1")},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "pi", Image: "perl"}},
		}}},
	}
	if mut != nil {
		mut(j)
	}
	Default(j)
	Resource.PrepareForCreate(context.Background(), j)
	return j
}

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestDefaults(t *testing.T) {
	s := newJob(nil).Spec
	if *s.Completions != 1 || *s.Parallelism != 1 || *s.BackoffLimit != 6 || *s.CompletionMode != batchv1.NonIndexedCompletion ||
		*s.Suspend || *s.PodReplacementPolicy != batchv1.TerminatingOrFailed || s.ManualSelector != nil {
		t.Errorf("defaults: %+v", s)
	}
	par := newJob(func(j *batchv1.Job) { n := int32(3); j.Spec.Parallelism = &n }).Spec
	if par.Completions != nil || *par.Parallelism != 3 {
		t.Errorf("parallelism only: completions %v parallelism %d", par.Completions, *par.Parallelism)
	}
	pfp := newJob(func(j *batchv1.Job) {
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: "DisruptionTarget"}}}}}
	}).Spec
	if *pfp.PodReplacementPolicy != batchv1.Failed || pfp.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
		t.Errorf("pod failure policy defaults: %+v", pfp)
	}
}

func TestGeneratedSelector(t *testing.T) {
	j := newJob(nil)
	want := map[string]string{"job-name": "pi", "batch.kubernetes.io/job-name": "pi", "controller-uid": "u-1", "batch.kubernetes.io/controller-uid": "u-1"}
	for k, v := range want {
		if j.Spec.Template.Labels[k] != v {
			t.Errorf("template label %s = %q", k, j.Spec.Template.Labels[k])
		}
	}
	if sel := j.Spec.Selector.MatchLabels; len(sel) != 1 || sel["batch.kubernetes.io/controller-uid"] != "u-1" {
		t.Errorf("selector = %v", j.Spec.Selector)
	}
	if errs := Resource.Validate(context.Background(), j); len(errs) != 0 {
		t.Errorf("generated job invalid: %v", errs)
	}
	// Defaulting on read copies the template labels to the job.
	Default(j)
	if j.Labels["job-name"] != "pi" {
		t.Errorf("job labels = %v", j.Labels)
	}

	wrong := newJob(func(j *batchv1.Job) { j.Spec.Template.Labels = map[string]string{"controller-uid": "other"} })
	got := errorKeys(Resource.Validate(context.Background(), wrong))
	if !slices.Equal(got, []string{"FieldValueInvalid spec.template.metadata.labels[controller-uid]"}) {
		t.Errorf("conflicting label: %v", got)
	}

	foreign := newJob(func(j *batchv1.Job) {
		j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "other"}}
	})
	got = errorKeys(Resource.Validate(context.Background(), foreign))
	if !slices.Equal(got, []string{"FieldValueInvalid spec.selector", "FieldValueInvalid spec.template.metadata.labels"}) {
		t.Errorf("foreign selector: %v", got)
	}

	manual := newJob(func(j *batchv1.Job) {
		yes := true
		j.Spec.ManualSelector = &yes
		j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
		j.Spec.Template.Labels = map[string]string{"app": "pi"}
	})
	if errs := Resource.Validate(context.Background(), manual); len(errs) != 0 {
		t.Errorf("manual selector: %v", errs)
	}
	if _, ok := manual.Spec.Template.Labels["controller-uid"]; ok {
		t.Errorf("manual selector got generated labels")
	}
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		mut  func(*batchv1.Job)
		want []string
	}{
		"restartPolicy unset": {func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" },
			[]string{"FieldValueRequired spec.template.spec.restartPolicy"}},
		"restartPolicy Always": {func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			[]string{"FieldValueRequired spec.template.spec.restartPolicy"}},
		"indexed without completions": {func(j *batchv1.Job) {
			m := batchv1.IndexedCompletion
			n := int32(2)
			j.Spec.CompletionMode, j.Spec.Parallelism = &m, &n
		}, []string{"FieldValueRequired spec.completions"}},
		"bad mode": {func(j *batchv1.Job) { m := batchv1.CompletionMode("Sometimes"); j.Spec.CompletionMode = &m },
			[]string{"FieldValueNotSupported spec.completionMode"}},
		"negative backoff": {func(j *batchv1.Job) { n := int32(-1); j.Spec.BackoffLimit = &n },
			[]string{"FieldValueInvalid spec.backoffLimit"}},
	} {
		j := newJob(tc.mut)
		if got := errorKeys(Resource.Validate(context.Background(), j)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

func TestUpdate(t *testing.T) {
	old := newJob(nil)
	img := old.DeepCopy()
	img.Spec.Template.Spec.Containers[0].Image = "perl:5"
	if got := errorKeys(Resource.ValidateUpdate(context.Background(), img, old)); !slices.Equal(got, []string{"FieldValueInvalid spec.template"}) {
		t.Errorf("image change: %v", got)
	}
	comp := old.DeepCopy()
	n := int32(3)
	comp.Spec.Completions = &n
	if got := errorKeys(Resource.ValidateUpdate(context.Background(), comp, old)); !slices.Equal(got, []string{"FieldValueInvalid spec.completions"}) {
		t.Errorf("completions change: %v", got)
	}
	par := old.DeepCopy()
	par.Spec.Parallelism = &n
	if errs := Resource.ValidateUpdate(context.Background(), par, old); len(errs) != 0 {
		t.Errorf("parallelism change: %v", errs)
	}
	// A suspended job that never ran may have its scheduling directives changed.
	suspended := newJob(func(j *batchv1.Job) { yes := true; j.Spec.Suspend = &yes })
	sched := suspended.DeepCopy()
	sched.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
	if errs := Resource.ValidateUpdate(context.Background(), sched, suspended); len(errs) != 0 {
		t.Errorf("suspended job node selector: %v", errs)
	}
}

func TestRow(t *testing.T) {
	j := newJob(nil)
	start := metav1.NewTime(time.Now().Add(-90 * time.Second))
	done := metav1.NewTime(start.Add(30 * time.Second))
	j.Status = batchv1.JobStatus{Succeeded: 1, StartTime: &start, CompletionTime: &done,
		Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue}, {Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	row := Resource.Row(j)
	if row[1] != "Complete" || row[2] != "1/1" || row[3] != "30s" || row[5] != "pi" || row[7] != "batch.kubernetes.io/controller-uid=u-1" {
		t.Errorf("row = %v", row)
	}
	par := newJob(func(j *batchv1.Job) { n := int32(3); j.Spec.Parallelism = &n })
	par.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}
	if row := Resource.Row(par); row[1] != "Suspended" || row[2] != "0/1 of 3" || row[3] != "" {
		t.Errorf("parallel row = %v", row)
	}
	if f := Resource.Fields(j); f["status.successful"] != "1" {
		t.Errorf("fields = %v", f)
	}
}

func TestOrphanByDefault(t *testing.T) {
	if p := (orphanByDefault{}).DefaultGarbageCollectionPolicy(context.Background()); p != "OrphanDependents" {
		t.Errorf("policy = %s", p)
	}
}
