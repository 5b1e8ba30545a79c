// Package workload holds what the workload resources (deployments, replica sets, stateful
// sets, daemon sets, jobs, cron jobs, pod disruption budgets) share: selector and pod
// template checks, int-or-percent checks, status counter checks and the printed
// CONTAINERS / IMAGES / SELECTOR cells, each phrased as upstream phrases it.
//
//	errs = append(errs, workload.ValidateSelector(d.Spec.Selector, "deployment", path.Child("selector"))...)
//	errs = append(errs, workload.ValidateTemplateForController(&d.Spec.Template, sel, "ReplicaSet", path.Child("template"))...)
package workload

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Column definitions the workload tables share, as upstream describes them.
var (
	ContainersColumn = metav1.TableColumnDefinition{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."}
	ImagesColumn     = metav1.TableColumnDefinition{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."}
)

// SelectorColumn is the wide Selector column, described by the given swagger text.
func SelectorColumn(description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Selector", Type: "string", Priority: 1, Description: description}
}

// ContainersAndImages returns the comma-joined container names and images of a pod spec.
func ContainersAndImages(spec *corev1.PodSpec) (names, images string) {
	n := make([]string, 0, len(spec.Containers))
	im := make([]string, 0, len(spec.Containers))
	for _, c := range spec.Containers {
		n = append(n, c.Name)
		im = append(im, c.Image)
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// SelectorString renders a label selector as a selector string ("app=web,tier in (a)");
// an invalid selector gives "<invalid>". It is what /scale reports and wide tables print.
func SelectorString(sel *metav1.LabelSelector) string {
	if sel == nil {
		return ""
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "<invalid>"
	}
	return s.String()
}

// ValidateSelector checks a required, non-empty label selector; kind ("deployment",
// "daemonset", …) goes into upstream's message for an empty one.
func ValidateSelector(sel *metav1.LabelSelector, kind string, path *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(path, "")}
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, path)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(path, sel, "empty selector is invalid for "+kind))
	}
	return errs
}

// ValidateSelectorMatchesLabels reports a selector that does not select the template's
// labels, at path (the template's metadata.labels). A missing selector selects nothing,
// so it does not match either; an empty one matches everything.
func ValidateSelectorMatchesLabels(sel *metav1.LabelSelector, tmplLabels map[string]string, path *field.Path) field.ErrorList {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil
	}
	if !s.Matches(labels.Set(tmplLabels)) {
		return field.ErrorList{field.Invalid(path, tmplLabels, "`selector` does not match template `labels`")}
	}
	return nil
}

// ValidateTemplateForController checks what a pod template owned by a long-running
// controller must satisfy beyond the pod spec itself: restartPolicy Always and no
// activeDeadlineSeconds. kind names the controller in the message ("ReplicaSet", …).
func ValidateTemplateForController(t *corev1.PodTemplateSpec, kind string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(path.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(path.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return errs
}

// Nonnegative checks an optional counter or limit.
func Nonnegative(v *int32, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*v), path)
}

// ValidatePositiveIntOrPercent checks a non-negative integer or a percent string.
func ValidatePositiveIntOrPercent(v *intstr.IntOrString, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	switch v.Type {
	case intstr.String:
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(path, v, msg))
		}
		return errs
	default:
		return apivalidation.ValidateNonnegativeField(int64(v.IntValue()), path)
	}
}

// NotMoreThan100Percent reports a percent above 100%.
func NotMoreThan100Percent(v *intstr.IntOrString, path *field.Path) field.ErrorList {
	if p, ok := percent(v); ok && p > 100 {
		return field.ErrorList{field.Invalid(path, v, "must not be greater than 100%")}
	}
	return nil
}

func percent(v *intstr.IntOrString) (int, bool) {
	if v == nil || v.Type != intstr.String {
		return 0, false
	}
	if len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	p, _ := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	return p, true
}

// IntOrPercentValue is the number in an int or percent ("25%" is 25), 0 if unset.
func IntOrPercentValue(v *intstr.IntOrString) int {
	if v == nil {
		return 0
	}
	if p, ok := percent(v); ok {
		return p
	}
	return v.IntValue()
}

// NotGreaterThan reports a status counter larger than another: the message names the
// other as upstream does ("cannot be greater than status.replicas").
func NotGreaterThan(v, limit int32, limitName string, path *field.Path) field.ErrorList {
	if v > limit {
		return field.ErrorList{field.Invalid(path, v, "cannot be greater than "+limitName)}
	}
	return nil
}

// Counters checks that every named status counter is non-negative.
func Counters(path *field.Path, counters map[string]int64) field.ErrorList {
	var errs field.ErrorList
	for _, name := range slices.Sorted(maps.Keys(counters)) {
		errs = append(errs, apivalidation.ValidateNonnegativeField(counters[name], path.Child(name))...)
	}
	return errs
}

// Int32 returns *p, or def when p is nil.
func Int32(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
