// Package daemonset serves apps/v1 DaemonSets: one pod on every eligible node, with the
// status subresource.
package daemonset

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/apps/workload"
	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// TemplateGenerationAnnotation counts template changes, as upstream keeps it on apps/v1
// DaemonSets (its internal spec.templateGeneration).
const TemplateGenerationAnnotation = "deprecated.daemonset.template.generation"

// Resource is daemonsets.
var Resource = &store.Resource{
	Name: "daemonsets", Singular: "daemonset", Namespaced: true,
	ShortNames: []string{"ds"}, Categories: []string{"all"},
	New:        func() runtime.Object { return &appsv1.DaemonSet{} },
	NewList:    func() runtime.Object { return &appsv1.DaemonSetList{} },
	Status:     true,
	Generation: true,
	Defaults:   func(obj runtime.Object) { Default(obj.(*appsv1.DaemonSet)) },
	PrepareForCreate: func(_ context.Context, obj runtime.Object) {
		ds := obj.(*appsv1.DaemonSet)
		if templateGeneration(ds) < 1 {
			setTemplateGeneration(ds, 1)
		}
	},
	PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
		ds, o := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
		g := templateGeneration(o)
		if !equality.Semantic.DeepEqual(ds.Spec.Template, o.Spec.Template) {
			g++
		}
		setTemplateGeneration(ds, g)
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return ValidateSpec(&obj.(*appsv1.DaemonSet).Spec, field.NewPath("spec"))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		ds, o := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
		errs := ValidateSpec(&ds.Spec, field.NewPath("spec"))
		return append(errs, apivalidation.ValidateImmutableField(ds.Spec.Selector, o.Spec.Selector, field.NewPath("spec", "selector"))...)
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return ValidateStatus(&obj.(*appsv1.DaemonSet).Status, field.NewPath("status"))
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Desired", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]},
		{Name: "Current", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]},
		{Name: "Ready", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]},
		{Name: "Up-to-date", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]},
		{Name: "Available", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]},
		{Name: "Node Selector", Type: "string", Description: corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]},
		store.AgeColumn,
		workload.ContainersColumn, workload.ImagesColumn,
		workload.SelectorColumn(appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"])},
	Row: func(obj runtime.Object) []any {
		ds := obj.(*appsv1.DaemonSet)
		st := ds.Status
		names, images := workload.ContainersAndImages(&ds.Spec.Template.Spec)
		return []any{ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
			int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
			store.Age(ds.CreationTimestamp), names, images, workload.SelectorString(ds.Spec.Selector)}
	},
}

func templateGeneration(ds *appsv1.DaemonSet) int64 {
	g, err := strconv.ParseInt(ds.Annotations[TemplateGenerationAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return g
}

func setTemplateGeneration(ds *appsv1.DaemonSet, g int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[TemplateGenerationAnnotation] = strconv.FormatInt(g, 10)
}

// Default fills upstream's apps/v1 defaults: RollingUpdate with maxUnavailable 1 and
// maxSurge 0, 10 kept revisions, and the pod template's own.
func Default(ds *appsv1.DaemonSet) {
	s := &ds.Spec.UpdateStrategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if s.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromInt32(1)
			s.RollingUpdate.MaxUnavailable = &v
		}
		if s.RollingUpdate.MaxSurge == nil {
			v := intstr.FromInt32(0)
			s.RollingUpdate.MaxSurge = &v
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		n := int32(10)
		ds.Spec.RevisionHistoryLimit = &n
	}
	pod.DefaultPodTemplateSpec(&ds.Spec.Template)
}

// ValidateSpec checks the selector and the template it must select, and the strategy.
func ValidateSpec(spec *appsv1.DaemonSetSpec, p *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))
	errs = append(errs, workload.ValidateSelectorMatchesLabels(spec.Selector, spec.Template.Labels, p.Child("template", "metadata", "labels"))...)
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, "empty selector is invalid for daemonset"))
	}
	errs = append(errs, pod.ValidatePodTemplateSpec(&spec.Template, p.Child("template"))...)
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(p.Child("template", "spec", "restartPolicy"), spec.Template.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if ads := spec.Template.Spec.ActiveDeadlineSeconds; ads != nil {
		errs = append(errs, field.Invalid(p.Child("template", "spec", "activeDeadlineSeconds"), *ads, "activeDeadlineSeconds must be nil for daemonset"))
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, validateStrategy(&spec.UpdateStrategy, p.Child("updateStrategy"))...)
	errs = append(errs, workload.Nonnegative(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	return errs
}

func validateStrategy(s *appsv1.DaemonSetUpdateStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := s.RollingUpdate
		if ru == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "")}
		}
		rp := p.Child("rollingUpdate")
		var errs field.ErrorList
		errs = append(errs, workload.ValidatePositiveIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, workload.ValidatePositiveIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
		errs = append(errs, workload.NotMoreThan100Percent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, workload.NotMoreThan100Percent(ru.MaxSurge, rp.Child("maxSurge"))...)
		unavailable := workload.IntOrPercentValue(ru.MaxUnavailable) != 0
		surge := workload.IntOrPercentValue(ru.MaxSurge) != 0
		switch {
		case unavailable && surge:
			errs = append(errs, field.Invalid(rp.Child("maxSurge"), ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
		case !unavailable && !surge:
			errs = append(errs, field.Required(rp.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
		return errs
	default:
		return field.ErrorList{field.NotSupported(p, s, []string{
			string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)})}
	}
}

// ValidateStatus checks the counters the daemon set controller writes.
func ValidateStatus(st *appsv1.DaemonSetStatus, p *field.Path) field.ErrorList {
	counters := map[string]int64{
		"currentNumberScheduled": int64(st.CurrentNumberScheduled),
		"numberMisscheduled":     int64(st.NumberMisscheduled),
		"desiredNumberScheduled": int64(st.DesiredNumberScheduled),
		"numberReady":            int64(st.NumberReady),
		"observedGeneration":     st.ObservedGeneration,
		"updatedNumberScheduled": int64(st.UpdatedNumberScheduled),
		"numberAvailable":        int64(st.NumberAvailable),
		"numberUnavailable":      int64(st.NumberUnavailable),
	}
	if st.CollisionCount != nil {
		counters["collisionCount"] = int64(*st.CollisionCount)
	}
	return workload.Counters(p, counters)
}
