package priority

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func plugin(t *testing.T, classes ...*schedulingv1.PriorityClass) *Plugin {
	t.Helper()
	client := fake.NewClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	for _, pc := range classes {
		if err := f.Scheduling().V1().PriorityClasses().Informer().GetStore().Add(pc); err != nil {
			t.Fatal(err)
		}
	}
	p := New()
	p.SetExternalKubeClientSet(client)
	p.SetExternalKubeInformerFactory(f)
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	return p
}

func admitPod(p *Plugin, pod *corev1.Pod) error {
	a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", "p",
		corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
	return p.Admit(context.Background(), a, nil)
}

func TestPodPriorityFromClass(t *testing.T) {
	never := corev1.PreemptNever
	p := plugin(t,
		&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000, PreemptionPolicy: &never},
		&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "low"}, Value: 10, GlobalDefault: true})

	pod := &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: "high"}}
	if err := admitPod(p, pod); err != nil {
		t.Fatal(err)
	}
	if *pod.Spec.Priority != 1000 || *pod.Spec.PreemptionPolicy != corev1.PreemptNever {
		t.Fatalf("priority %d policy %s", *pod.Spec.Priority, *pod.Spec.PreemptionPolicy)
	}

	pod = &corev1.Pod{}
	if err := admitPod(p, pod); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.PriorityClassName != "low" || *pod.Spec.Priority != 10 || *pod.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Fatalf("default: %+v", pod.Spec)
	}

	err := admitPod(p, &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: "missing"}})
	if err == nil || !strings.Contains(err.Error(), "no PriorityClass with name missing was found") {
		t.Fatalf("missing class: %v", err)
	}
	err = admitPod(p, &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: "high", Priority: ptr.To(int32(5))}})
	if err == nil || !strings.Contains(err.Error(), "the integer value of priority (5) must not be provided") {
		t.Fatalf("conflicting priority: %v", err)
	}
}

func TestNoDefaultClass(t *testing.T) {
	pod := &corev1.Pod{}
	if err := admitPod(plugin(t), pod); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.PriorityClassName != "" || *pod.Spec.Priority != 0 {
		t.Fatalf("without a default: %+v", pod.Spec)
	}
}

func TestOneGlobalDefault(t *testing.T) {
	p := plugin(t, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Value: 1, GlobalDefault: true})
	b := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Value: 2, GlobalDefault: true}
	a := admission.NewAttributesRecord(b, nil, schedulingv1.SchemeGroupVersion.WithKind("PriorityClass"), "", "b",
		schedulingv1.SchemeGroupVersion.WithResource("priorityclasses"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
	err := p.Validate(context.Background(), a, nil)
	if err == nil || !strings.Contains(err.Error(), "PriorityClass a is already marked as default. Only one default can exist") {
		t.Fatalf("second default: %v", err)
	}
}
