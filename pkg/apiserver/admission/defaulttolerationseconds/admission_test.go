package defaulttolerationseconds

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
)

func admit(t *testing.T, p *corev1.Pod, sub string) {
	t.Helper()
	a := admission.NewAttributesRecord(p, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", "p",
		corev1.SchemeGroupVersion.WithResource("pods"), sub, admission.Create, nil, false, nil)
	if err := New().Admit(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultTolerations(t *testing.T) {
	s := func(n int64) *int64 { return &n }
	notReady := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s(300)}
	unreachable := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s(300)}
	mine := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s(5)}
	other := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "x", Effect: corev1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name       string
		have, want []corev1.Toleration
	}{
		{"none", nil, []corev1.Toleration{notReady, unreachable}},
		{"unrelated kept", []corev1.Toleration{other}, []corev1.Toleration{other, notReady, unreachable}},
		{"own not-ready kept", []corev1.Toleration{mine}, []corev1.Toleration{mine, unreachable}},
		{"tolerate everything", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{"any key NoSchedule", []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			[]corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}, notReady, unreachable}},
		{"not-ready any effect", []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists}},
			[]corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists}, unreachable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{Tolerations: tc.have}}
			admit(t, p, "")
			if !reflect.DeepEqual(p.Spec.Tolerations, tc.want) {
				t.Errorf("tolerations\n got %+v\nwant %+v", p.Spec.Tolerations, tc.want)
			}
		})
	}
}

func TestSubresourcesAndOtherKinds(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	admit(t, p, "status")
	if len(p.Spec.Tolerations) != 0 {
		t.Errorf("status update got tolerations %+v", p.Spec.Tolerations)
	}
	svc := &corev1.Service{}
	a := admission.NewAttributesRecord(svc, nil, corev1.SchemeGroupVersion.WithKind("Service"), "ns", "s",
		corev1.SchemeGroupVersion.WithResource("services"), "", admission.Create, nil, false, nil)
	if err := New().Admit(context.Background(), a, nil); err != nil {
		t.Error(err)
	}
}
