// Package job serves batch/v1 Jobs: pods run to completion, with the status
// subresource. Unless spec.manualSelector is true, the selector is generated from the
// job's UID and the matching labels are put on the pod template, as upstream does.
package job

import (
	"context"
	"fmt"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/warning"

	"github.com/skiff-k8s/skiff/pkg/registry/apps/workload"
	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// The pod template labels a generated selector relies on; the unprefixed ones are kept
// for older clients, as upstream still sets them.
const (
	LegacyJobNameLabel       = "job-name"
	LegacyControllerUIDLabel = "controller-uid"
)

// Resource is jobs.
var Resource = &store.Resource{
	Name: "jobs", Singular: "job", Namespaced: true, Categories: []string{"all"},
	New:        func() runtime.Object { return &batchv1.Job{} },
	NewList:    func() runtime.Object { return &batchv1.JobList{} },
	Status:     true,
	Generation: true,
	Defaults:   func(obj runtime.Object) { Default(obj.(*batchv1.Job)) },
	PrepareForCreate: func(_ context.Context, obj runtime.Object) {
		j := obj.(*batchv1.Job)
		if j.Spec.ManualSelector == nil || !*j.Spec.ManualSelector {
			GenerateSelector(j)
		}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*batchv1.Job))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*batchv1.Job), old.(*batchv1.Job))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return ValidateStatus(&obj.(*batchv1.Job).Status, field.NewPath("status"))
	},
	Fields: func(obj runtime.Object) fields.Set {
		return fields.Set{"status.successful": strconv.Itoa(int(obj.(*batchv1.Job).Status.Succeeded))}
	},
	FieldLabels: []string{"status.successful"},
	Customize: func(s *genericregistry.Store) error {
		s.DeleteStrategy = orphanByDefault{s.DeleteStrategy}
		return nil
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Status", Type: "string", Description: "Status of the job."},
		{Name: "Completions", Type: "string", Description: batchv1.JobStatus{}.SwaggerDoc()["succeeded"]},
		{Name: "Duration", Type: "string", Description: "Time required to complete the job."},
		store.AgeColumn,
		workload.ContainersColumn, workload.ImagesColumn,
		workload.SelectorColumn(batchv1.JobSpec{}.SwaggerDoc()["selector"])},
	Row: func(obj runtime.Object) []any {
		j := obj.(*batchv1.Job)
		names, images := workload.ContainersAndImages(&j.Spec.Template.Spec)
		return []any{j.Name, Status(j), completions(j), jobDuration(j), store.Age(j.CreationTimestamp),
			names, images, metav1.FormatLabelSelector(j.Spec.Selector)}
	},
}

func init() {
	Resource.Main = func(r *store.REST) rest.Storage { return &jobREST{r} }
}

// orphanByDefault keeps a Job's pods when a delete names no propagation policy: batch/v1
// has always behaved so, and kubectl asks for background deletion explicitly.
type orphanByDefault struct{ rest.RESTDeleteStrategy }

func (orphanByDefault) DefaultGarbageCollectionPolicy(context.Context) rest.GarbageCollectionPolicy {
	return rest.OrphanDependents
}

const deleteWarning = "child pods are preserved by default when jobs are deleted; " +
	"set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"

// jobREST warns on deletes that will orphan the pods without saying so.
type jobREST struct{ *store.REST }

func (r *jobREST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	warnImplicitOrphan(ctx, options)
	return r.REST.Delete(ctx, name, deleteValidation, options)
}

func (r *jobREST) DeleteCollection(ctx context.Context, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions, listOptions *metainternalversion.ListOptions) (runtime.Object, error) {
	warnImplicitOrphan(ctx, options)
	return r.REST.DeleteCollection(ctx, deleteValidation, options, listOptions)
}

func warnImplicitOrphan(ctx context.Context, options *metav1.DeleteOptions) {
	if options != nil && options.PropagationPolicy == nil && options.OrphanDependents == nil { //nolint:staticcheck // still honoured
		warning.AddWarning(ctx, "", deleteWarning)
	}
}

// Default fills upstream's batch/v1 defaults: completions and parallelism 1 when both
// are unset, backoffLimit 6, NonIndexed completion, not suspended, the pod replacement
// policy, the job's labels from its template, and the pod template's own.
func Default(j *batchv1.Job) {
	s := &j.Spec
	if s.Completions == nil && s.Parallelism == nil {
		one, alsoOne := int32(1), int32(1)
		s.Completions, s.Parallelism = &one, &alsoOne
	}
	if s.Parallelism == nil {
		one := int32(1)
		s.Parallelism = &one
	}
	if s.BackoffLimit == nil {
		n := int32(6)
		if s.BackoffLimitPerIndex != nil {
			n = int32(^uint32(0) >> 1)
		}
		s.BackoffLimit = &n
	}
	if len(j.Labels) == 0 && s.Template.Labels != nil {
		j.Labels = make(map[string]string, len(s.Template.Labels))
		for k, v := range s.Template.Labels {
			j.Labels[k] = v
		}
	}
	if s.CompletionMode == nil {
		m := batchv1.NonIndexedCompletion
		s.CompletionMode = &m
	}
	if s.Suspend == nil {
		s.Suspend = new(bool)
	}
	if pfp := s.PodFailurePolicy; pfp != nil {
		for i := range pfp.Rules {
			for k := range pfp.Rules[i].OnPodConditions {
				if c := &pfp.Rules[i].OnPodConditions[k]; c.Status == "" {
					c.Status = corev1.ConditionTrue
				}
			}
		}
	}
	if s.PodReplacementPolicy == nil {
		p := batchv1.TerminatingOrFailed
		if s.PodFailurePolicy != nil {
			p = batchv1.Failed
		}
		s.PodReplacementPolicy = &p
	}
	pod.DefaultPodTemplateSpec(&s.Template)
}

// GenerateSelector labels the pod template with the job's name and UID and selects on
// the UID, keeping labels the user set (validation rejects conflicting ones).
func GenerateSelector(j *batchv1.Job) {
	t := &j.Spec.Template
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	for _, k := range []string{LegacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := t.Labels[k]; !ok {
			t.Labels[k] = j.Name
		}
	}
	for _, k := range []string{LegacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := t.Labels[k]; !ok {
			t.Labels[k] = string(j.UID)
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(j.UID)
	}
}

// Validate checks a job on create.
func Validate(j *batchv1.Job) field.ErrorList {
	errs := validateGeneratedSelector(j)
	return append(errs, ValidateSpec(&j.Spec, field.NewPath("spec"))...)
}

// validateGeneratedSelector checks that a generated selector and its labels were not
// overridden with something else.
func validateGeneratedSelector(j *batchv1.Job) field.ErrorList {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return nil
	}
	var errs field.ErrorList
	if j.UID == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	mp := field.NewPath("spec", "template", "metadata")
	expected := map[string]string{
		LegacyControllerUIDLabel:   string(j.UID),
		LegacyJobNameLabel:         j.Name,
		batchv1.ControllerUidLabel: string(j.UID),
		batchv1.JobNameLabel:       j.Name,
	}
	for _, k := range []string{LegacyControllerUIDLabel, LegacyJobNameLabel, batchv1.ControllerUidLabel, batchv1.JobNameLabel} {
		errs = append(errs, hasLabel(j.Spec.Template.Labels, mp, k, expected[k])...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector); err == nil && !sel.Matches(labels.Set(expected)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

func hasLabel(ls map[string]string, p *field.Path, key, want string) field.ErrorList {
	got, ok := ls[key]
	if !ok {
		return field.ErrorList{field.Required(p.Child("labels").Key(key), want)}
	}
	if got != want {
		return field.ErrorList{field.Invalid(p.Child("labels").Key(key), ls, "must be '"+want+"'")}
	}
	return nil
}

// ValidateSpec checks a job's spec: the fields any job template has, plus a required
// selector that selects the template.
func ValidateSpec(spec *batchv1.JobSpec, p *field.Path) field.ErrorList {
	errs := ValidateTemplateSpec(spec, p)
	if spec.Selector == nil {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

// maxParallelismForIndexedJob bounds the parallelism of Indexed jobs, as upstream.
const maxParallelismForIndexedJob = 100000

// ValidateTemplateSpec checks what a JobSpec must satisfy wherever it appears, a Job or
// a CronJob's jobTemplate: counters, completion mode, replacement policy and the pod
// template with its restart policy.
func ValidateTemplateSpec(spec *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, workload.Nonnegative(spec.Parallelism, p.Child("parallelism"))...)
	errs = append(errs, workload.Nonnegative(spec.Completions, p.Child("completions"))...)
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*spec.ActiveDeadlineSeconds, p.Child("activeDeadlineSeconds"))...)
	}
	errs = append(errs, workload.Nonnegative(spec.BackoffLimit, p.Child("backoffLimit"))...)
	errs = append(errs, workload.Nonnegative(spec.TTLSecondsAfterFinished, p.Child("ttlSecondsAfterFinished"))...)
	errs = append(errs, workload.Nonnegative(spec.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	errs = append(errs, workload.Nonnegative(spec.MaxFailedIndexes, p.Child("maxFailedIndexes"))...)
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if m := spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		errs = append(errs, field.NotSupported(p.Child("completionMode"), *m, []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
	}
	if indexed {
		if spec.Completions == nil {
			errs = append(errs, field.Required(p.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
			errs = append(errs, field.Invalid(p.Child("parallelism"), *spec.Parallelism,
				fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
		}
		if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
			errs = append(errs, field.Invalid(p.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
		}
	} else {
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(p.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(p.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
	}
	if rp := spec.PodReplacementPolicy; rp != nil {
		switch *rp {
		case batchv1.TerminatingOrFailed, batchv1.Failed:
			if spec.PodFailurePolicy != nil && *rp != batchv1.Failed {
				errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *rp, []batchv1.PodReplacementPolicy{batchv1.Failed}))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *rp, []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed}))
		}
	}
	errs = append(errs, pod.ValidatePodTemplateSpec(&spec.Template, p.Child("template"))...)
	rpp := p.Child("template", "spec", "restartPolicy")
	switch rp := spec.Template.Spec.RestartPolicy; {
	case rp == corev1.RestartPolicyAlways || rp == "":
		errs = append(errs, field.Required(rpp, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(rpp, rp, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case spec.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(rpp, rp, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

// ValidateUpdate checks a job on update: the spec again, and the fields that may not
// change. The template may change only in its scheduling directives, labels and
// annotations, and only while the job is suspended and has never started.
func ValidateUpdate(j, old *batchv1.Job) field.ErrorList {
	p := field.NewPath("spec")
	errs := ValidateSpec(&j.Spec, p)
	errs = append(errs, validateCompletionsUpdate(&j.Spec, &old.Spec, p.Child("completions"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.Selector, old.Spec.Selector, p.Child("selector"))...)
	oldTemplate := &old.Spec.Template
	if old.Spec.Suspend != nil && *old.Spec.Suspend && old.Status.StartTime == nil {
		oldTemplate = withSchedulingDirectivesOf(oldTemplate, &j.Spec.Template)
	}
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.Template, *oldTemplate, p.Child("template"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.CompletionMode, old.Spec.CompletionMode, p.Child("completionMode"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.PodFailurePolicy, old.Spec.PodFailurePolicy, p.Child("podFailurePolicy"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.BackoffLimitPerIndex, old.Spec.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.ManagedBy, old.Spec.ManagedBy, p.Child("managedBy"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.SuccessPolicy, old.Spec.SuccessPolicy, p.Child("successPolicy"))...)
	return errs
}

// validateCompletionsUpdate lets Indexed jobs change completions together with
// parallelism (elastic indexed jobs); other jobs keep completions.
func validateCompletionsUpdate(spec, old *batchv1.JobSpec, p *field.Path) field.ErrorList {
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if !indexed {
		return apivalidation.ValidateImmutableField(spec.Completions, old.Completions, p)
	}
	if equality.Semantic.DeepEqual(spec.Completions, old.Completions) || spec.Completions == nil {
		return nil
	}
	if spec.Parallelism == nil || *spec.Completions != *spec.Parallelism {
		return field.ErrorList{field.Invalid(p, *spec.Completions, "can only be modified in tandem with spec.parallelism")}
	}
	return nil
}

// withSchedulingDirectivesOf returns old with the mutable parts taken from t.
func withSchedulingDirectivesOf(old, t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	o := old.DeepCopy()
	switch {
	case t.Spec.Affinity == nil && o.Spec.Affinity != nil:
		o.Spec.Affinity.NodeAffinity = nil
		if equality.Semantic.DeepEqual(*o.Spec.Affinity, corev1.Affinity{}) {
			o.Spec.Affinity = nil
		}
	case t.Spec.Affinity != nil && o.Spec.Affinity == nil:
		o.Spec.Affinity = &corev1.Affinity{NodeAffinity: t.Spec.Affinity.NodeAffinity}
	case t.Spec.Affinity != nil && o.Spec.Affinity != nil:
		o.Spec.Affinity.NodeAffinity = t.Spec.Affinity.NodeAffinity
	}
	o.Spec.NodeSelector = t.Spec.NodeSelector
	o.Spec.Tolerations = t.Spec.Tolerations
	o.Spec.SchedulingGates = t.Spec.SchedulingGates
	o.Annotations = t.Annotations
	o.Labels = t.Labels
	return o
}

// ValidateStatus checks the counters the job controller writes.
func ValidateStatus(st *batchv1.JobStatus, p *field.Path) field.ErrorList {
	counters := map[string]int64{
		"active":    int64(st.Active),
		"succeeded": int64(st.Succeeded),
		"failed":    int64(st.Failed),
	}
	if st.Ready != nil {
		counters["ready"] = int64(*st.Ready)
	}
	if st.Terminating != nil {
		counters["terminating"] = int64(*st.Terminating)
	}
	return workload.Counters(p, counters)
}

// Status is the STATUS column: the job's most telling condition.
func Status(j *batchv1.Job) string {
	switch {
	case hasCondition(j, batchv1.JobComplete):
		return "Complete"
	case hasCondition(j, batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case hasCondition(j, batchv1.JobSuspended):
		return "Suspended"
	case hasCondition(j, batchv1.JobFailureTarget):
		return "FailureTarget"
	case hasCondition(j, batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

func hasCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func completions(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	if par := workload.Int32(j.Spec.Parallelism, 0); par > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, par)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

func jobDuration(j *batchv1.Job) string {
	switch {
	case j.Status.StartTime == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return duration.HumanDuration(time.Since(j.Status.StartTime.Time))
	default:
		return duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
}
