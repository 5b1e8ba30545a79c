// Package horizontalpodautoscaler serves autoscaling/v2 HorizontalPodAutoscalers: the
// target object to scale, its replica bounds, the metrics that drive it and how fast it
// may scale up and down.
package horizontalpodautoscaler

import (
	"context"
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is horizontalpodautoscalers.
var Resource = &store.Resource{
	Name: "horizontalpodautoscalers", Singular: "horizontalpodautoscaler", Namespaced: true,
	ShortNames: []string{"hpa"}, Categories: []string{"all"},
	New:        func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
	NewList:    func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} },
	Generation: true,
	Status:     true,
	Defaults:   func(obj runtime.Object) { Default(obj.(*autoscalingv2.HorizontalPodAutoscaler)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return ValidateSpec(&obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec, field.NewPath("spec"))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		st := &obj.(*autoscalingv2.HorizontalPodAutoscaler).Status
		p := field.NewPath("status")
		var errs field.ErrorList
		if st.CurrentReplicas < 0 {
			errs = append(errs, field.Invalid(p.Child("currentReplicas"), st.CurrentReplicas, "must be greater than or equal to 0"))
		}
		if st.DesiredReplicas < 0 {
			errs = append(errs, field.Invalid(p.Child("desiredReplicas"), st.DesiredReplicas, "must be greater than or equal to 0"))
		}
		return errs
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Reference", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["scaleTargetRef"]},
		{Name: "Targets", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["metrics"]},
		{Name: "MinPods", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["minReplicas"]},
		{Name: "MaxPods", Type: "integer", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["maxReplicas"]},
		{Name: "Replicas", Type: "integer", Description: autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]},
		store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
		minPods := "<unset>"
		if h.Spec.MinReplicas != nil {
			minPods = fmt.Sprintf("%d", *h.Spec.MinReplicas)
		}
		return []any{h.Name, h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name,
			FormatMetrics(h.Spec.Metrics, h.Status.CurrentMetrics), minPods, int64(h.Spec.MaxReplicas),
			int64(h.Status.CurrentReplicas), store.Age(h.CreationTimestamp)}
	},
}

// DefaultCPUUtilization is the target when an HPA names no metric.
const DefaultCPUUtilization = 80

// Default sets minReplicas 1, the CPU 80% metric when none is given and, when behavior is
// given, every rule it leaves out.
func Default(h *autoscalingv2.HorizontalPodAutoscaler) {
	if h.Spec.MinReplicas == nil {
		one := int32(1)
		h.Spec.MinReplicas = &one
	}
	if len(h.Spec.Metrics) == 0 {
		u := int32(DefaultCPUUtilization)
		h.Spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &u}},
		}}
	}
	if b := h.Spec.Behavior; b != nil {
		b.ScaleUp = withDefaults(b.ScaleUp, scaleUpRules())
		b.ScaleDown = withDefaults(b.ScaleDown, scaleDownRules())
	}
}

// scaleUpRules: no stabilization, the faster of 4 pods or 100% every 15s.
func scaleUpRules() *autoscalingv2.HPAScalingRules {
	window, pol := int32(0), autoscalingv2.MaxChangePolicySelect
	return &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window, SelectPolicy: &pol,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		}}
}

// scaleDownRules: 300s stabilization, then up to 100% every 15s.
func scaleDownRules() *autoscalingv2.HPAScalingRules {
	window, pol := int32(300), autoscalingv2.MaxChangePolicySelect
	return &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window, SelectPolicy: &pol,
		Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}}
}

func withDefaults(r, def *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if r == nil {
		return def
	}
	if r.StabilizationWindowSeconds == nil {
		r.StabilizationWindowSeconds = def.StabilizationWindowSeconds
	}
	if r.SelectPolicy == nil {
		r.SelectPolicy = def.SelectPolicy
	}
	if r.Policies == nil {
		r.Policies = def.Policies
	}
	return r
}

const (
	maxPeriodSeconds              = 1800
	maxStabilizationWindowSeconds = 3600
)

// ValidateSpec checks the target reference, replica bounds, metrics and behavior.
func ValidateSpec(spec *autoscalingv2.HorizontalPodAutoscalerSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.MinReplicas != nil && *spec.MinReplicas < 1 {
		errs = append(errs, field.Invalid(p.Child("minReplicas"), *spec.MinReplicas, "must be greater than or equal to 1"))
	}
	if spec.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), spec.MaxReplicas, "must be greater than 0"))
	}
	if spec.MinReplicas != nil && spec.MaxReplicas < *spec.MinReplicas {
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	errs = append(errs, validateReference(spec.ScaleTargetRef, p.Child("scaleTargetRef"))...)
	for i, m := range spec.Metrics {
		errs = append(errs, validateMetric(m, p.Child("metrics").Index(i))...)
	}
	if b := spec.Behavior; b != nil {
		errs = append(errs, validateRules(b.ScaleUp, p.Child("behavior", "scaleUp"))...)
		errs = append(errs, validateRules(b.ScaleDown, p.Child("behavior", "scaleDown"))...)
	}
	return errs
}

func validateReference(ref autoscalingv2.CrossVersionObjectReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else {
		for _, msg := range path.IsValidPathSegmentName(ref.Kind) {
			errs = append(errs, field.Invalid(p.Child("kind"), ref.Kind, msg))
		}
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range path.IsValidPathSegmentName(ref.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), ref.Name, msg))
		}
	}
	return errs
}

var metricTypes = []autoscalingv2.MetricSourceType{
	autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType,
	autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType,
}

func validateMetric(m autoscalingv2.MetricSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	set := map[autoscalingv2.MetricSourceType]bool{
		autoscalingv2.ObjectMetricSourceType:            m.Object != nil,
		autoscalingv2.PodsMetricSourceType:              m.Pods != nil,
		autoscalingv2.ResourceMetricSourceType:          m.Resource != nil,
		autoscalingv2.ContainerResourceMetricSourceType: m.ContainerResource != nil,
		autoscalingv2.ExternalMetricSourceType:          m.External != nil,
	}
	if m.Type == "" {
		return append(errs, field.Required(p.Child("type"), "must specify a metric source type"))
	}
	if _, ok := set[m.Type]; !ok {
		return append(errs, field.NotSupported(p.Child("type"), m.Type, metricTypes))
	}
	for _, t := range metricTypes {
		if set[t] && t != m.Type {
			errs = append(errs, field.Forbidden(p.Child(lowerFirst(string(t))), "must populate the given metric source only"))
		}
	}
	if !set[m.Type] {
		return append(errs, field.Required(p.Child(lowerFirst(string(m.Type))), "must populate information for the given metric source"))
	}
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		rp := p.Child("resource")
		if m.Resource.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), "must specify a resource name"))
		}
		errs = append(errs, validateTarget(m.Resource.Target, rp.Child("target"), true)...)
	case autoscalingv2.ContainerResourceMetricSourceType:
		rp := p.Child("containerResource")
		if m.ContainerResource.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), "must specify a resource name"))
		}
		if m.ContainerResource.Container == "" {
			errs = append(errs, field.Required(rp.Child("container"), "must specify a container"))
		}
		errs = append(errs, validateTarget(m.ContainerResource.Target, rp.Child("target"), true)...)
	case autoscalingv2.PodsMetricSourceType:
		errs = append(errs, validateMetricName(m.Pods.Metric.Name, p.Child("pods", "metric", "name"))...)
		errs = append(errs, validateTarget(m.Pods.Target, p.Child("pods", "target"), false)...)
	case autoscalingv2.ObjectMetricSourceType:
		errs = append(errs, validateMetricName(m.Object.Metric.Name, p.Child("object", "metric", "name"))...)
		errs = append(errs, validateReference(autoscalingv2.CrossVersionObjectReference(m.Object.DescribedObject), p.Child("object", "describedObject"))...)
		errs = append(errs, validateTarget(m.Object.Target, p.Child("object", "target"), false)...)
	case autoscalingv2.ExternalMetricSourceType:
		errs = append(errs, validateMetricName(m.External.Metric.Name, p.Child("external", "metric", "name"))...)
		errs = append(errs, validateTarget(m.External.Target, p.Child("external", "target"), false)...)
	}
	return errs
}

func validateMetricName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "must specify a metric name")}
	}
	return nil
}

func validateTarget(t autoscalingv2.MetricTarget, p *field.Path, utilizationOK bool) field.ErrorList {
	var errs field.ErrorList
	switch t.Type {
	case "":
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric target type"))
	case autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType:
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), t.Type, []autoscalingv2.MetricTargetType{
			autoscalingv2.AverageValueMetricType, autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType}))
	}
	if t.Value != nil && t.Value.Sign() != 1 {
		errs = append(errs, field.Invalid(p.Child("value"), t.Value, "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() != 1 {
		errs = append(errs, field.Invalid(p.Child("averageValue"), t.AverageValue, "must be positive"))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		errs = append(errs, field.Invalid(p.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	switch t.Type {
	case autoscalingv2.UtilizationMetricType:
		if !utilizationOK {
			errs = append(errs, field.NotSupported(p.Child("type"), t.Type, []autoscalingv2.MetricTargetType{
				autoscalingv2.AverageValueMetricType, autoscalingv2.ValueMetricType}))
		} else if t.AverageUtilization == nil {
			errs = append(errs, field.Required(p.Child("averageUtilization"), "must set averageUtilization when type is Utilization"))
		}
	case autoscalingv2.ValueMetricType:
		if t.Value == nil {
			errs = append(errs, field.Required(p.Child("value"), "must set value when type is Value"))
		}
	case autoscalingv2.AverageValueMetricType:
		if t.AverageValue == nil {
			errs = append(errs, field.Required(p.Child("averageValue"), "must set averageValue when type is AverageValue"))
		}
	}
	return errs
}

func validateRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > maxStabilizationWindowSeconds) {
		msg := "must be greater than or equal to zero"
		if *w > 0 {
			msg = fmt.Sprintf("must be less than or equal to %v", maxStabilizationWindowSeconds)
		}
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, msg))
	}
	if s := r.SelectPolicy; s != nil {
		switch *s {
		case autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect:
		default:
			errs = append(errs, field.NotSupported(p.Child("selectPolicy"), *s, []autoscalingv2.ScalingPolicySelect{
				autoscalingv2.DisabledPolicySelect, autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect}))
		}
	}
	if len(r.Policies) == 0 {
		errs = append(errs, field.Required(p.Child("policies"), "must specify at least one Policy"))
	}
	for i, pol := range r.Policies {
		pp := p.Child("policies").Index(i)
		switch pol.Type {
		case autoscalingv2.PodsScalingPolicy, autoscalingv2.PercentScalingPolicy:
		default:
			errs = append(errs, field.NotSupported(pp.Child("type"), pol.Type, []autoscalingv2.HPAScalingPolicyType{
				autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy}))
		}
		if pol.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), pol.Value, "must be greater than zero"))
		}
		if pol.PeriodSeconds <= 0 {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, "must be greater than zero"))
		} else if pol.PeriodSeconds > maxPeriodSeconds {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, fmt.Sprintf("must be less than or equal to %v", maxPeriodSeconds)))
		}
	}
	return errs
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// FormatMetrics prints the TARGETS column: up to two "current/target" pairs, resource
// metrics prefixed with their name, as kubectl shows them.
func FormatMetrics(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	var list []string
	for i, spec := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		list = append(list, formatMetric(spec, st))
	}
	const most = 2
	if len(list) > most {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:most], ", "), len(list)-most)
	}
	return strings.Join(list, ", ")
}

const unknown = "<unknown>"

func formatMetric(spec autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	switch spec.Type {
	case autoscalingv2.ExternalMetricSourceType:
		if spec.External == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.External != nil {
			cur = &st.External.Current
		}
		return valuePair(spec.External.Target, cur)
	case autoscalingv2.PodsMetricSourceType:
		if spec.Pods == nil {
			break
		}
		current := unknown
		if st != nil && st.Pods != nil && st.Pods.Current.AverageValue != nil {
			current = st.Pods.Current.AverageValue.String()
		}
		target := unknown
		if spec.Pods.Target.AverageValue != nil {
			target = spec.Pods.Target.AverageValue.String()
		}
		return current + "/" + target
	case autoscalingv2.ObjectMetricSourceType:
		if spec.Object == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.Object != nil {
			cur = &st.Object.Current
		}
		return valuePair(spec.Object.Target, cur)
	case autoscalingv2.ResourceMetricSourceType:
		if spec.Resource == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			cur = &st.Resource.Current
		}
		return spec.Resource.Name.String() + ": " + resourcePair(spec.Resource.Target, cur)
	case autoscalingv2.ContainerResourceMetricSourceType:
		if spec.ContainerResource == nil {
			break
		}
		var cur *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			cur = &st.ContainerResource.Current
		}
		return spec.ContainerResource.Name.String() + ": " + resourcePair(spec.ContainerResource.Target, cur)
	}
	return "<unknown type>"
}

// valuePair prints an external or object metric: averaged or total.
func valuePair(t autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	current := unknown
	if t.AverageValue != nil {
		if cur != nil && cur.AverageValue != nil {
			current = cur.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s (avg)", current, t.AverageValue.String())
	}
	if cur != nil && cur.Value != nil {
		current = cur.Value.String()
	}
	target := unknown
	if t.Value != nil {
		target = t.Value.String()
	}
	return current + "/" + target
}

// resourcePair prints a resource metric: an average value, or a utilization percent.
func resourcePair(t autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	current := unknown
	if t.AverageValue != nil {
		if cur != nil && cur.AverageValue != nil {
			current = cur.AverageValue.String()
		}
		return current + "/" + t.AverageValue.String()
	}
	if cur != nil && cur.AverageUtilization != nil {
		current = fmt.Sprintf("%d%%", *cur.AverageUtilization)
	}
	target := "<auto>"
	if t.AverageUtilization != nil {
		target = fmt.Sprintf("%d%%", *t.AverageUtilization)
	}
	return current + "/" + target
}
