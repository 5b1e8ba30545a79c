package sim

import (
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func simPod(restart corev1.RestartPolicy, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Annotations: annotations},
		Spec: corev1.PodSpec{NodeName: "n", RestartPolicy: restart,
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
}

func condition(st *corev1.PodStatus, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func TestDesiredStatusRunsAndIsStable(t *testing.T) {
	now := time.Now()
	pod := simPod(corev1.RestartPolicyAlways, nil)
	st, requeue := desiredStatus(pod, "127.1.0.1", "10.42.0.5", now)
	if st.Phase != corev1.PodRunning || condition(st, corev1.PodReady) != corev1.ConditionTrue || requeue != 0 {
		t.Fatalf("phase %s ready %s requeue %v", st.Phase, condition(st, corev1.PodReady), requeue)
	}
	if st.PodIP != "10.42.0.5" || st.HostIP != "127.1.0.1" || st.StartTime == nil {
		t.Fatalf("addresses: %+v", st)
	}
	if len(st.InitContainerStatuses) != 1 || st.InitContainerStatuses[0].State.Terminated == nil {
		t.Fatalf("init containers: %+v", st.InitContainerStatuses)
	}
	// Writing it back and asking again changes nothing: no write loop.
	pod.Status = *st
	again, _ := desiredStatus(pod, "127.1.0.1", "10.42.0.5", now.Add(time.Minute))
	if !apiequality.Semantic.DeepEqual(again, st) {
		t.Fatalf("status changed on its own:\n%+v\n%+v", st, again)
	}
}

func TestDesiredStatusNotReady(t *testing.T) {
	st, _ := desiredStatus(simPod(corev1.RestartPolicyAlways, map[string]string{AnnotationNotReady: "true"}), "h", "p", time.Now())
	if st.Phase != corev1.PodRunning || condition(st, corev1.PodReady) != corev1.ConditionFalse || st.ContainerStatuses[0].Ready {
		t.Fatalf("want running and not ready: %+v", st)
	}
}

func TestDesiredStatusExit(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		restart  corev1.RestartPolicy
		code     string
		phase    corev1.PodPhase
		restarts int32
	}{
		{corev1.RestartPolicyNever, "0", corev1.PodSucceeded, 0},
		{corev1.RestartPolicyNever, "3", corev1.PodFailed, 0},
		{corev1.RestartPolicyOnFailure, "0", corev1.PodSucceeded, 0},
		{corev1.RestartPolicyOnFailure, "1", corev1.PodRunning, 1},
		{corev1.RestartPolicyAlways, "0", corev1.PodRunning, 1},
	} {
		pod := simPod(tc.restart, map[string]string{AnnotationExitAfter: "2s", AnnotationExitCode: tc.code})
		st, requeue := desiredStatus(pod, "h", "p", now)
		if st.Phase != corev1.PodRunning || requeue <= 0 || requeue > 3*time.Second {
			t.Fatalf("%s/%s: before exit: phase %s requeue %v", tc.restart, tc.code, st.Phase, requeue)
		}
		pod.Status = *st
		st, _ = desiredStatus(pod, "h", "p", now.Add(3*time.Second))
		cs := st.ContainerStatuses[0]
		if st.Phase != tc.phase || cs.RestartCount != tc.restarts {
			t.Fatalf("%s/%s: phase %s restarts %d, want %s %d", tc.restart, tc.code, st.Phase, cs.RestartCount, tc.phase, tc.restarts)
		}
		if tc.phase != corev1.PodRunning && (cs.State.Terminated == nil || strconv.Itoa(int(cs.State.Terminated.ExitCode)) != tc.code) {
			t.Fatalf("%s/%s: terminated state %+v", tc.restart, tc.code, cs.State)
		}
		if tc.phase == corev1.PodRunning && cs.LastTerminationState.Terminated == nil {
			t.Fatalf("%s/%s: restart lost the last termination state", tc.restart, tc.code)
		}
	}
}

func TestPodIPsFromCIDR(t *testing.T) {
	n := &node{name: "n", ips: map[string]string{}}
	a := n.podIP("a", 3)
	b := n.podIP("b", 3)
	if a == b || a == "" || n.podIP("a", 3) != a {
		t.Fatalf("addresses %q %q", a, b)
	}
	n.releaseIP("a")
	if c := n.podIP("c", 3); c == b {
		t.Fatalf("address %s handed out twice", c)
	}
}
