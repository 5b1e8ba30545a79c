package horizontalpodautoscaler

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/pkg/apiserver/scheme"
)

func TestV1RoundTrip(t *testing.T) {
	ten := resource.MustParse("10")
	cpu, cur := int32(70), int32(40)
	window := int32(60)
	h := newHPA(func(h *autoscalingv2.HorizontalPodAutoscaler) {
		h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window}}
		h.Spec.Metrics = []autoscalingv2.MetricSpec{
			{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &ten}}},
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &cpu}}},
		}
	})
	h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &cur, AverageValue: resource.NewMilliQuantity(200, resource.DecimalSI)}}}}
	h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale"}}

	var v1 autoscalingv1.HorizontalPodAutoscaler
	if err := scheme.Scheme.Convert(h, &v1, nil); err != nil {
		t.Fatal(err)
	}
	if *v1.Spec.TargetCPUUtilizationPercentage != 70 || *v1.Status.CurrentCPUUtilizationPercentage != 40 {
		t.Errorf("v1 = %+v", v1)
	}
	if v1.Annotations[MetricSpecsAnnotation] != `[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}]` {
		t.Errorf("metrics annotation = %s", v1.Annotations[MetricSpecsAnnotation])
	}
	var back autoscalingv2.HorizontalPodAutoscaler
	if err := scheme.Scheme.Convert(&v1, &back, nil); err != nil {
		t.Fatal(err)
	}
	if back.Annotations != nil {
		t.Errorf("annotations left behind: %v", back.Annotations)
	}
	if !equality.Semantic.DeepEqual(h.Spec, back.Spec) || !equality.Semantic.DeepEqual(h.Status, back.Status) {
		t.Errorf("round trip differs:\n%+v\n%+v", h.Spec, back.Spec)
	}
}

func TestV1ServedThroughScheme(t *testing.T) {
	target := int32(60)
	min := int32(2)
	in := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MinReplicas: &min, MaxReplicas: 5, TargetCPUUtilizationPercentage: &target},
	}
	internal, err := scheme.Scheme.ConvertToVersion(in, autoscalingv2.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	h := internal.(*autoscalingv2.HorizontalPodAutoscaler)
	if len(h.Spec.Metrics) != 1 || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != 60 {
		t.Errorf("v2 = %+v", h.Spec)
	}
	out, err := scheme.Scheme.ConvertToVersion(h, autoscalingv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	if v1, ok := out.(*autoscalingv1.HorizontalPodAutoscaler); !ok || *v1.Spec.TargetCPUUtilizationPercentage != 60 || v1.Kind != "HorizontalPodAutoscaler" {
		t.Errorf("back to v1: %T %+v", out, out)
	}
	defaulted := &autoscalingv1.HorizontalPodAutoscaler{}
	scheme.Scheme.Default(defaulted)
	if defaulted.Spec.MinReplicas == nil || *defaulted.Spec.MinReplicas != 1 {
		t.Errorf("v1 minReplicas default missing")
	}
}
