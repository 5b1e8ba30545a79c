package horizontalpodautoscaler

import (
	"context"
	"slices"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newHPA(mut func(*autoscalingv2.HorizontalPodAutoscaler)) *autoscalingv2.HorizontalPodAutoscaler {
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    5,
		},
	}
	if mut != nil {
		mut(h)
	}
	Default(h)
	return h
}

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestDefaults(t *testing.T) {
	h := newHPA(nil)
	if *h.Spec.MinReplicas != 1 || len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		*h.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 || h.Spec.Behavior != nil {
		t.Errorf("defaults: %+v", h.Spec)
	}
	w := int32(60)
	b := newHPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &w}}
	}).Spec.Behavior
	if *b.ScaleDown.StabilizationWindowSeconds != 60 || *b.ScaleDown.SelectPolicy != autoscalingv2.MaxChangePolicySelect || len(b.ScaleDown.Policies) != 1 {
		t.Errorf("scaleDown = %+v", b.ScaleDown)
	}
	if *b.ScaleUp.StabilizationWindowSeconds != 0 || len(b.ScaleUp.Policies) != 2 || b.ScaleUp.Policies[0].Value != 4 {
		t.Errorf("scaleUp = %+v", b.ScaleUp)
	}
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		mut  func(*autoscalingv2.HorizontalPodAutoscaler)
		want []string
	}{
		"valid": {func(*autoscalingv2.HorizontalPodAutoscaler) {}, nil},
		"min 0": {func(h *autoscalingv2.HorizontalPodAutoscaler) { n := int32(0); h.Spec.MinReplicas = &n },
			[]string{"FieldValueInvalid spec.minReplicas"}},
		"max below min": {func(h *autoscalingv2.HorizontalPodAutoscaler) { n := int32(6); h.Spec.MinReplicas = &n },
			[]string{"FieldValueInvalid spec.maxReplicas"}},
		"no target": {func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{}
		},
			[]string{"FieldValueRequired spec.scaleTargetRef.kind", "FieldValueRequired spec.scaleTargetRef.name"}},
		"utilization on pods metric": {func(h *autoscalingv2.HorizontalPodAutoscaler) {
			u := int32(50)
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &u}}}}
		}, []string{"FieldValueNotSupported spec.metrics[0].pods.target.type"}},
		"missing source": {func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType}}
		}, []string{"FieldValueRequired spec.metrics[0].external"}},
		"bad policy period": {func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 1801}}}}
		}, []string{"FieldValueInvalid spec.behavior.scaleUp.policies[0].periodSeconds"}},
	} {
		if got := errorKeys(Resource.Validate(context.Background(), newHPA(tc.mut))); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

func TestFormatMetrics(t *testing.T) {
	cur := int32(35)
	mi := resource.MustParse("100Mi")
	ten := resource.MustParse("10")
	five := resource.MustParse("5")
	specs := newHPA(nil).Spec.Metrics
	statuses := []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &cur}}}}
	if got := FormatMetrics(specs, statuses); got != "cpu: 35%/80%" {
		t.Errorf("cpu = %q", got)
	}
	if got := FormatMetrics(specs, nil); got != "cpu: <unknown>/80%" {
		t.Errorf("cpu unknown = %q", got)
	}
	specs = append(specs,
		autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &mi}}},
		autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: &five}}})
	if got := FormatMetrics(specs, nil); got != "cpu: <unknown>/80%, memory: <unknown>/100Mi + 1 more..." {
		t.Errorf("three = %q", got)
	}
	obj := []autoscalingv2.MetricSpec{{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &ten}}}}
	if got := FormatMetrics(obj, nil); got != "<unknown>/10 (avg)" {
		t.Errorf("object = %q", got)
	}
	if got := FormatMetrics(nil, nil); got != "<none>" {
		t.Errorf("none = %q", got)
	}
}

func TestRow(t *testing.T) {
	h := newHPA(nil)
	h.Status.CurrentReplicas = 2
	row := Resource.Row(h)
	if want := []any{"web", "Deployment/web", "cpu: <unknown>/80%", "1", int64(5), int64(2), row[6]}; !slices.Equal(row, want) {
		t.Errorf("row = %v", row)
	}
}
