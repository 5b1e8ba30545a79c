// Package cronjob serves batch/v1 CronJobs: jobs created on a cron schedule, in a time
// zone, with the status subresource.
package cronjob

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // time zones must resolve on hosts without /usr/share/zoneinfo, as upstream embeds them

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/apps/workload"
	"github.com/skiff-k8s/skiff/pkg/registry/batch/job"
	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is cronjobs.
var Resource = &store.Resource{
	Name: "cronjobs", Singular: "cronjob", Namespaced: true,
	ShortNames: []string{"cj"}, Categories: []string{"all"},
	New:        func() runtime.Object { return &batchv1.CronJob{} },
	NewList:    func() runtime.Object { return &batchv1.CronJobList{} },
	Status:     true,
	Generation: true,
	Defaults:   func(obj runtime.Object) { Default(obj.(*batchv1.CronJob)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		cj := obj.(*batchv1.CronJob)
		errs := ValidateSpec(&cj.Spec, nil, field.NewPath("spec"))
		// Jobs are named <cronjob>-<11 characters>, and a job name is at most 63.
		if len(cj.Name) > 52 {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, "must be no more than 52 characters"))
		}
		return errs
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateSpec(&obj.(*batchv1.CronJob).Spec, &old.(*batchv1.CronJob).Spec, field.NewPath("spec"))
	},
	Warnings: func(_ context.Context, obj, _ runtime.Object) []string {
		return Warnings(&obj.(*batchv1.CronJob).Spec)
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Schedule", Type: "string", Description: batchv1.CronJobSpec{}.SwaggerDoc()["schedule"]},
		{Name: "Timezone", Type: "string", Description: batchv1.CronJobSpec{}.SwaggerDoc()["timeZone"]},
		{Name: "Suspend", Type: "boolean", Description: batchv1.CronJobSpec{}.SwaggerDoc()["suspend"]},
		{Name: "Active", Type: "integer", Description: batchv1.CronJobStatus{}.SwaggerDoc()["active"]},
		{Name: "Last Schedule", Type: "string", Description: batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]},
		store.AgeColumn,
		workload.ContainersColumn, workload.ImagesColumn,
		workload.SelectorColumn(batchv1.JobSpec{}.SwaggerDoc()["selector"])},
	Row: func(obj runtime.Object) []any {
		cj := obj.(*batchv1.CronJob)
		last := "<none>"
		if cj.Status.LastScheduleTime != nil {
			last = store.Age(*cj.Status.LastScheduleTime)
		}
		tz := "<none>"
		if cj.Spec.TimeZone != nil {
			tz = *cj.Spec.TimeZone
		}
		suspend := "<unset>"
		if cj.Spec.Suspend != nil {
			suspend = map[bool]string{true: "True", false: "False"}[*cj.Spec.Suspend]
		}
		names, images := workload.ContainersAndImages(&cj.Spec.JobTemplate.Spec.Template.Spec)
		return []any{cj.Name, cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last,
			store.Age(cj.CreationTimestamp), names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector)}
	},
}

// Default fills upstream's batch/v1 defaults: Allow concurrency, not suspended, 3
// successful and 1 failed job kept, and the pod template's own.
func Default(cj *batchv1.CronJob) {
	s := &cj.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if s.Suspend == nil {
		s.Suspend = new(bool)
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		n := int32(3)
		s.SuccessfulJobsHistoryLimit = &n
	}
	if s.FailedJobsHistoryLimit == nil {
		n := int32(1)
		s.FailedJobsHistoryLimit = &n
	}
	pod.DefaultPodTemplateSpec(&s.JobTemplate.Spec.Template)
}

// ValidateSpec checks the schedule, time zone, policy, limits and job template. old is
// nil on create; on update a TZ= schedule that was already there stays allowed, and an
// unchanged time zone is not looked up again.
func ValidateSpec(spec, old *batchv1.CronJobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Schedule == "" {
		errs = append(errs, field.Required(p.Child("schedule"), ""))
	} else {
		allowTZ := old != nil && strings.Contains(old.Schedule, "TZ")
		errs = append(errs, validateSchedule(spec.Schedule, allowTZ, spec.TimeZone, p.Child("schedule"))...)
	}
	if spec.StartingDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*spec.StartingDeadlineSeconds, p.Child("startingDeadlineSeconds"))...)
	}
	if old == nil || !sameString(old.TimeZone, spec.TimeZone) {
		errs = append(errs, ValidateTimeZone(spec.TimeZone, p.Child("timeZone"))...)
	}
	switch spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(p.Child("concurrencyPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(p.Child("concurrencyPolicy"), spec.ConcurrencyPolicy,
			[]batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}))
	}
	jp := p.Child("jobTemplate", "spec")
	errs = append(errs, job.ValidateTemplateSpec(&spec.JobTemplate.Spec, jp)...)
	if spec.JobTemplate.Spec.Selector != nil {
		errs = append(errs, field.Invalid(jp.Child("selector"), spec.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if ms := spec.JobTemplate.Spec.ManualSelector; ms != nil && *ms {
		errs = append(errs, field.NotSupported(jp.Child("manualSelector"), *ms, []string{"nil", "false"}))
	}
	errs = append(errs, workload.Nonnegative(spec.SuccessfulJobsHistoryLimit, p.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, workload.Nonnegative(spec.FailedJobsHistoryLimit, p.Child("failedJobsHistoryLimit"))...)
	return errs
}

func validateSchedule(schedule string, allowTZ bool, timeZone *string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := cron.ParseStandard(schedule); err != nil {
		errs = append(errs, field.Invalid(p, schedule, err.Error()))
	}
	switch {
	case allowTZ && strings.Contains(schedule, "TZ") && timeZone != nil:
		errs = append(errs, field.Invalid(p, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && strings.Contains(schedule, "TZ"):
		errs = append(errs, field.Invalid(p, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

// validTimeZoneCharacters matches one element of an IANA zone name.
var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

// ValidateTimeZone accepts nil or an explicit IANA zone name this binary can load.
func ValidateTimeZone(tz *string, p *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(p, *tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
			return field.ErrorList{field.Invalid(p, *tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	if strings.EqualFold(*tz, "Local") {
		return field.ErrorList{field.Invalid(p, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		return field.ErrorList{field.Invalid(p, *tz, err.Error())}
	}
	return nil
}

// Warnings flags schedules upstream warns about: a TZ= prefix, and a schedule that can
// never fire ("0 0 31 2 *").
func Warnings(spec *batchv1.CronJobSpec) []string {
	var ws []string
	if strings.Contains(spec.Schedule, "TZ") {
		ws = append(ws, "cronjob spec.schedule: CRON_TZ or TZ used in spec.schedule is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details")
	}
	if sched, err := cron.ParseStandard(spec.Schedule); err == nil && sched.Next(time.Now()).IsZero() {
		ws = append(ws, fmt.Sprintf("cronjob spec.schedule: %q will never run", spec.Schedule))
	}
	return ws
}

func sameString(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
