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

func TestV1ListConversion(t *testing.T) {
	cpu := int32(50)
	v1list := &autoscalingv1.HorizontalPodAutoscalerList{ListMeta: metav1.ListMeta{ResourceVersion: "7"},
		Items: []autoscalingv1.HorizontalPodAutoscaler{
			{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 3, TargetCPUUtilizationPercentage: &cpu}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 4}},
		}}
	var v2list autoscalingv2.HorizontalPodAutoscalerList
	if err := scheme.Scheme.Convert(v1list, &v2list, nil); err != nil {
		t.Fatal(err)
	}
	if v2list.ResourceVersion != "7" || len(v2list.Items) != 2 || v2list.Items[1].Name != "b" ||
		*v2list.Items[0].Spec.Metrics[0].Resource.Target.AverageUtilization != 50 {
		t.Fatalf("v2 list = %+v", v2list)
	}
	var back autoscalingv1.HorizontalPodAutoscalerList
	if err := scheme.Scheme.Convert(&v2list, &back, nil); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(v1list, &back) {
		t.Errorf("round trip:\n%+v\n%+v", v1list, &back)
	}
	back.Items[1].Annotations = map[string]string{MetricSpecsAnnotation: "not json"}
	if err := scheme.Scheme.Convert(&back, &v2list, nil); err == nil {
		t.Error("a bad annotation on an item converts")
	}
}
