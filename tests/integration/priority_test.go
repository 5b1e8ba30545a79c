package integration

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPriorityAdmission: a pod's priority comes from its PriorityClass, built-in ones
// included; an unknown class or a conflicting value is refused as upstream refuses it.
func TestPriorityAdmission(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	c := srv.Client
	never := corev1.PreemptNever
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: ns + "-batch"}, Value: 500, PreemptionPolicy: &never}
	if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.SchedulingV1().PriorityClasses().Delete(ctx, pc.Name, metav1.DeleteOptions{}) })

	pod := func(name, class string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{PriorityClassName: class, Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}}}
	}
	for _, tc := range []struct {
		class    string
		priority int32
		policy   corev1.PreemptionPolicy
	}{
		{pc.Name, 500, corev1.PreemptNever},
		{"system-node-critical", 2000001000, corev1.PreemptLowerPriority},
		{"", 0, corev1.PreemptLowerPriority},
	} {
		got, err := c.CoreV1().Pods(ns).Create(ctx, pod("p-"+strings.TrimPrefix(tc.class, ns+"-")+"x", tc.class), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%q: %v", tc.class, err)
		}
		if got.Spec.Priority == nil || *got.Spec.Priority != tc.priority || got.Spec.PreemptionPolicy == nil || *got.Spec.PreemptionPolicy != tc.policy {
			t.Fatalf("%q: priority %v policy %v", tc.class, got.Spec.Priority, got.Spec.PreemptionPolicy)
		}
	}
	_, err := c.CoreV1().Pods(ns).Create(ctx, pod("nope", "no-such-class"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "no PriorityClass with name no-such-class was found") {
		t.Fatalf("unknown class: %v", err)
	}
	bad := pod("bad", pc.Name)
	v := int32(7)
	bad.Spec.Priority = &v
	_, err = c.CoreV1().Pods(ns).Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "the integer value of priority (7) must not be provided in pod spec") {
		t.Fatalf("conflicting priority: %v", err)
	}
}
