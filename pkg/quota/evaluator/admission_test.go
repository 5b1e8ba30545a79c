package evaluator

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
)

func TestPodConstraints(t *testing.T) {
	e := NewPodEvaluator(nil, time.Now)
	cpu := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "a", Resources: corev1.ResourceRequirements{Requests: cpu, Limits: cpu}}, {Name: "b"}},
	}}
	err := e.Constraints([]corev1.ResourceName{"pods", "requests.cpu", "limits.memory", "requests.storage"}, p)
	if err == nil || err.Error() != "must specify limits.memory for: a,b,init; requests.cpu for: b,init" {
		t.Errorf("err = %v", err)
	}
	if err := e.Constraints([]corev1.ResourceName{"pods", "count/pods"}, p); err != nil {
		t.Errorf("pods only: %v", err)
	}
	p.Spec.Resources = &corev1.ResourceRequirements{Requests: cpu}
	if err := e.Constraints([]corev1.ResourceName{"requests.cpu"}, p); err != nil {
		t.Errorf("pod-level requests: %v", err)
	}
}

func TestHandles(t *testing.T) {
	attrs := func(op admission.Operation, sub string) admission.Attributes {
		return admission.NewAttributesRecord(&corev1.Pod{}, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", "p",
			corev1.SchemeGroupVersion.WithResource("pods"), sub, op, nil, false, nil)
	}
	pods, svcs := NewPodEvaluator(nil, time.Now), NewServiceEvaluator(nil)
	for _, tc := range []struct {
		op       admission.Operation
		sub      string
		pod, svc bool
	}{
		{admission.Create, "", true, true},
		{admission.Update, "", false, true},
		{admission.Update, "status", false, true},
		{admission.Update, "resize", true, true},
		{admission.Delete, "", false, false},
	} {
		if got := pods.Handles(attrs(tc.op, tc.sub)); got != tc.pod {
			t.Errorf("pods %s %q: %v", tc.op, tc.sub, got)
		}
		if got := svcs.Handles(attrs(tc.op, tc.sub)); got != tc.svc {
			t.Errorf("services %s %q: %v", tc.op, tc.sub, got)
		}
	}
}

func TestPodUsageNames(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{"hugepages-2Mi": resource.MustParse("4Mi"), "example.com/gpu": resource.MustParse("1")},
	}}}}}
	u := PodUsage(p, time.Now())
	for _, n := range []corev1.ResourceName{"pods", "count/pods", "hugepages-2Mi", "requests.hugepages-2Mi", "requests.example.com/gpu"} {
		if _, ok := u[n]; !ok {
			t.Errorf("usage lacks %s: %v", n, u)
		}
	}
	e := NewPodEvaluator(nil, time.Now)
	if got := e.MatchingResources([]corev1.ResourceName{"requests.example.com/gpu", "example.com/gpu", "hugepages-2Mi", "services"}); len(got) != 2 {
		t.Errorf("matching %v", got)
	}
	p.Status.Phase = corev1.PodFailed
	p.DeletionTimestamp = &metav1.Time{}
	if u := PodUsage(p, time.Now()); len(u) != 1 || u.Name("count/pods", resource.DecimalSI).Value() != 1 {
		t.Errorf("finished pod uses %v", u)
	}
}
