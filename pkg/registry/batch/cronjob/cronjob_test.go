package cronjob

import (
	"context"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newCronJob(mut func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				Containers:    []corev1.Container{{Name: "hello", Image: "busybox"}},
			}}}},
		},
	}
	if mut != nil {
		mut(cj)
	}
	Default(cj)
	return cj
}

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestDefaults(t *testing.T) {
	s := newCronJob(nil).Spec
	if s.ConcurrencyPolicy != batchv1.AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
		t.Errorf("defaults: %+v", s)
	}
	if s.JobTemplate.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("pod template not defaulted")
	}
	if s.JobTemplate.Spec.BackoffLimit != nil {
		t.Errorf("job template got job defaults, as upstream does not")
	}
}

func TestValidate(t *testing.T) {
	str := func(s string) *string { return &s }
	for name, tc := range map[string]struct {
		mut    func(*batchv1.CronJob)
		want   []string
		detail string
	}{
		"valid":          {func(*batchv1.CronJob) {}, nil, ""},
		"macro schedule": {func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" }, nil, ""},
		"no schedule":    {func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, []string{"FieldValueRequired spec.schedule"}, ""},
		"bad schedule": {func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every day" }, []string{"FieldValueInvalid spec.schedule"},
			"expected exactly 5 fields, found 2: [every day]"},
		"TZ in schedule": {func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" }, []string{"FieldValueInvalid spec.schedule"},
			"cannot use TZ or CRON_TZ in schedule, use timeZone field instead"},
		"time zone": {func(cj *batchv1.CronJob) { cj.Spec.TimeZone = str("Europe/Paris") }, nil, ""},
		"unknown zone": {func(cj *batchv1.CronJob) { cj.Spec.TimeZone = str("Mars/Olympus") }, []string{"FieldValueInvalid spec.timeZone"},
			"unknown time zone Mars/Olympus"},
		"local zone": {func(cj *batchv1.CronJob) { cj.Spec.TimeZone = str("Local") }, []string{"FieldValueInvalid spec.timeZone"},
			"timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"},
		"empty zone": {func(cj *batchv1.CronJob) { cj.Spec.TimeZone = str("") }, []string{"FieldValueInvalid spec.timeZone"}, ""},
		"bad policy": {func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" },
			[]string{"FieldValueNotSupported spec.concurrencyPolicy"}, ""},
		"selector set": {func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{} },
			[]string{"FieldValueInvalid spec.jobTemplate.spec.selector"}, "`selector` will be auto-generated"},
		"restart always": {func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, []string{"FieldValueRequired spec.jobTemplate.spec.template.spec.restartPolicy"}, ""},
		"long name": {func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) },
			[]string{"FieldValueInvalid metadata.name"}, "must be no more than 52 characters"},
	} {
		errs := Resource.Validate(context.Background(), newCronJob(tc.mut))
		if got := errorKeys(errs); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		} else if tc.detail != "" && errs[0].Detail != tc.detail {
			t.Errorf("%s: detail %q, want %q", name, errs[0].Detail, tc.detail)
		}
	}
}

func TestUpdateKeepsOldTZ(t *testing.T) {
	old := newCronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" })
	upd := old.DeepCopy()
	n := int32(5)
	upd.Spec.SuccessfulJobsHistoryLimit = &n
	if errs := Resource.ValidateUpdate(context.Background(), upd, old); len(errs) != 0 {
		t.Errorf("existing TZ= schedule rejected on update: %v", errs)
	}
	if ws := Resource.Warnings(context.Background(), upd, old); len(ws) != 1 {
		t.Errorf("warnings = %v", ws)
	}
}

func TestRow(t *testing.T) {
	cj := newCronJob(func(cj *batchv1.CronJob) { tz := "Europe/Paris"; cj.Spec.TimeZone = &tz })
	cj.Status.Active = []corev1.ObjectReference{{Name: "hello-1"}}
	row := Resource.Row(cj)
	want := []any{"hello", "*/5 * * * *", "Europe/Paris", "False", int64(1), "<none>", row[6], "hello", "busybox", "<none>"}
	if !slices.Equal(row, want) || len(row) != len(Resource.Columns) {
		t.Errorf("row = %v", row)
	}
}
