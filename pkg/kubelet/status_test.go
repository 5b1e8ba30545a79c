package kubelet

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

func testPod(policy corev1.RestartPolicy, names ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"}, Spec: corev1.PodSpec{RestartPolicy: policy}}
	for _, n := range names {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "img"})
	}
	return p
}

func newWorker() *podWorker {
	return &podWorker{backoff: map[string]*backoffEntry{}, waiting: map[string]corev1.ContainerStateWaiting{}}
}

func rtc(name string, attempt int, state runtime.ContainerState, code int) *runtime.ContainerStatus {
	now := time.Now()
	c := &runtime.ContainerStatus{ID: name + "-id", Name: name, Attempt: attempt, State: state, ExitCode: code, ImageRef: "sha256:x", StartedAt: now}
	if state == runtime.StateExited {
		c.FinishedAt = now
	}
	return c
}

func cond(s *corev1.PodStatus, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range s.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func TestPodStatusPhases(t *testing.T) {
	k := &Kubelet{}
	sb := &runtime.Sandbox{ID: "sb"}
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		cs     []*runtime.ContainerStatus
		want   corev1.PodPhase
		ready  corev1.ConditionStatus
	}{
		{"creating", corev1.RestartPolicyAlways, nil, corev1.PodPending, corev1.ConditionFalse},
		{"running", corev1.RestartPolicyAlways, []*runtime.ContainerStatus{rtc("a", 0, runtime.StateRunning, 0)}, corev1.PodRunning, corev1.ConditionTrue},
		{"never failed", corev1.RestartPolicyNever, []*runtime.ContainerStatus{rtc("a", 0, runtime.StateExited, 3)}, corev1.PodFailed, corev1.ConditionFalse},
		{"never succeeded", corev1.RestartPolicyNever, []*runtime.ContainerStatus{rtc("a", 0, runtime.StateExited, 0)}, corev1.PodSucceeded, corev1.ConditionFalse},
		{"always exited is running", corev1.RestartPolicyAlways, []*runtime.ContainerStatus{rtc("a", 0, runtime.StateExited, 0)}, corev1.PodRunning, corev1.ConditionFalse},
		{"onfailure failed is running", corev1.RestartPolicyOnFailure, []*runtime.ContainerStatus{rtc("a", 0, runtime.StateExited, 1)}, corev1.PodRunning, corev1.ConditionFalse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(tc.policy, "a")
			pr := &podRuntime{sandbox: sb, ips: []string{"10.42.0.5"}, latest: map[string]*runtime.ContainerStatus{}, previous: map[string]*runtime.ContainerStatus{}}
			for _, c := range tc.cs {
				pr.latest[c.Name] = c
			}
			s := k.podStatus(pod, newWorker(), pr)
			if s.Phase != tc.want {
				t.Errorf("phase %s, want %s", s.Phase, tc.want)
			}
			if got := cond(s, corev1.PodReady).Status; got != tc.ready {
				t.Errorf("Ready %s, want %s", got, tc.ready)
			}
			if s.PodIP != "10.42.0.5" || s.StartTime == nil || s.QOSClass != corev1.PodQOSBestEffort {
				t.Errorf("status %+v", s)
			}
		})
	}
}

func TestPodStatusCrashLoop(t *testing.T) {
	k := &Kubelet{}
	pod := testPod(corev1.RestartPolicyAlways, "a")
	w := newWorker()
	w.waiting["a"] = corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s"}
	pr := &podRuntime{sandbox: &runtime.Sandbox{ID: "sb"}, latest: map[string]*runtime.ContainerStatus{"a": rtc("a", 2, runtime.StateExited, 1)}, previous: map[string]*runtime.ContainerStatus{}}
	s := k.podStatus(pod, w, pr)
	cs := s.ContainerStatuses[0]
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.RestartCount != 2 ||
		cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 || cs.ContainerID != "containerd://a-id" {
		t.Errorf("container status %+v", cs)
	}
	if s.Phase != corev1.PodRunning {
		t.Errorf("phase %s", s.Phase)
	}
	r := cond(s, corev1.ContainersReady)
	if r.Reason != "ContainersNotReady" || r.Message != "containers with unready status: [a]" {
		t.Errorf("ContainersReady %+v", r)
	}
}

func TestPodStatusInit(t *testing.T) {
	k := &Kubelet{}
	pod := testPod(corev1.RestartPolicyNever, "a")
	pod.Spec.InitContainers = []corev1.Container{{Name: "i1", Image: "img"}, {Name: "i2", Image: "img"}}
	pr := &podRuntime{sandbox: &runtime.Sandbox{ID: "sb"}, latest: map[string]*runtime.ContainerStatus{"i1": rtc("i1", 0, runtime.StateExited, 0), "i2": rtc("i2", 0, runtime.StateRunning, 0)}, previous: map[string]*runtime.ContainerStatus{}}
	s := k.podStatus(pod, newWorker(), pr)
	if s.Phase != corev1.PodPending {
		t.Errorf("phase %s", s.Phase)
	}
	if c := cond(s, corev1.PodInitialized); c.Status != corev1.ConditionFalse || c.Message != "containers with incomplete status: [i2]" {
		t.Errorf("Initialized %+v", c)
	}
	pr.latest["i2"] = rtc("i2", 0, runtime.StateExited, 2)
	if s := k.podStatus(pod, newWorker(), pr); s.Phase != corev1.PodFailed {
		t.Errorf("failed init container with restartPolicy Never: phase %s", s.Phase)
	}
}

func TestPodStatusKeepsTransitionTimes(t *testing.T) {
	k := &Kubelet{}
	pod := testPod(corev1.RestartPolicyAlways, "a")
	pr := &podRuntime{sandbox: &runtime.Sandbox{ID: "sb"}, latest: map[string]*runtime.ContainerStatus{"a": rtc("a", 0, runtime.StateRunning, 0)}, previous: map[string]*runtime.ContainerStatus{}}
	first := k.podStatus(pod, newWorker(), pr)
	pod.Status = *first
	time.Sleep(1100 * time.Millisecond) // metav1.Time has second precision
	second := k.podStatus(pod, newWorker(), pr)
	if cond(first, corev1.PodReady).LastTransitionTime != cond(second, corev1.PodReady).LastTransitionTime {
		t.Error("Ready's transition time changed without a transition")
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	for _, tc := range []struct {
		req, lim corev1.ResourceList
		want     corev1.PodQOSClass
	}{
		{nil, nil, corev1.PodQOSBestEffort},
		{rl("100m", ""), nil, corev1.PodQOSBurstable},
		{rl("1", "1Gi"), rl("1", "1Gi"), corev1.PodQOSGuaranteed},
		{nil, rl("1", "1Gi"), corev1.PodQOSGuaranteed}, // requests default to limits in the API
		{rl("500m", "1Gi"), rl("1", "1Gi"), corev1.PodQOSBurstable},
	} {
		p := testPod(corev1.RestartPolicyAlways, "a")
		req := tc.req
		if req == nil && tc.lim != nil {
			req = tc.lim
		}
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: req, Limits: tc.lim}
		if got := qosClass(p); got != tc.want {
			t.Errorf("requests %v limits %v: %s, want %s", tc.req, tc.lim, got, tc.want)
		}
	}
}

func TestPodStatusEphemeral(t *testing.T) {
	k := &Kubelet{}
	pod := testPod(corev1.RestartPolicyAlways, "a")
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{
		{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "img"}, TargetContainerName: "a"},
		{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "later", Image: "img"}},
	}
	pr := &podRuntime{sandbox: &runtime.Sandbox{ID: "sb"}, previous: map[string]*runtime.ContainerStatus{}, latest: map[string]*runtime.ContainerStatus{
		"a": rtc("a", 0, runtime.StateRunning, 0), "dbg": rtc("dbg", 0, runtime.StateRunning, 0)}}
	s := k.podStatus(pod, newWorker(), pr)
	if len(s.EphemeralContainerStatuses) != 2 {
		t.Fatalf("ephemeral statuses %+v", s.EphemeralContainerStatuses)
	}
	dbg, later := s.EphemeralContainerStatuses[0], s.EphemeralContainerStatuses[1]
	if dbg.Name != "dbg" || dbg.State.Running == nil || dbg.Ready || dbg.ContainerID != "containerd://dbg-id" {
		t.Errorf("dbg %+v", dbg)
	}
	if later.State.Waiting == nil || later.State.Waiting.Reason != "ContainerCreating" {
		t.Errorf("later %+v", later)
	}
	// Ephemeral containers count neither for the phase nor for readiness.
	if s.Phase != corev1.PodRunning || cond(s, corev1.PodReady).Status != corev1.ConditionTrue {
		t.Errorf("phase %s ready %v", s.Phase, cond(s, corev1.PodReady))
	}
	if got := ephemeralTarget(pod, "dbg"); got != "a" {
		t.Errorf("target %q", got)
	}
}

// A container the runtime lost (unknown: its task vanished) is reported as
// upstream does, terminated with ContainerStatusUnknown and 137, and it
// restarts whatever the pod's restart policy.
func TestContainerStatusUnknown(t *testing.T) {
	k := &Kubelet{}
	sb := &runtime.Sandbox{ID: "sb"}
	for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever} {
		t.Run(string(policy), func(t *testing.T) {
			lost := rtc("a", 0, runtime.StateUnknown, 0)
			if !shouldRestart(policy, lost) {
				t.Errorf("an unknown container must restart under %s", policy)
			}
			pod := testPod(policy, "a")
			pr := &podRuntime{sandbox: sb, latest: map[string]*runtime.ContainerStatus{"a": lost}, previous: map[string]*runtime.ContainerStatus{}}
			s := k.podStatus(pod, newWorker(), pr)
			term := s.ContainerStatuses[0].State.Terminated
			if term == nil || term.Reason != ReasonStatusUnknown || term.ExitCode != 137 || term.Message != statusUnknownTerminatedMsg {
				t.Fatalf("state %+v, want terminated ContainerStatusUnknown 137", s.ContainerStatuses[0].State)
			}
			if s.Phase == corev1.PodSucceeded {
				t.Errorf("a lost container made the pod Succeeded")
			}

			// Its next attempt runs: the lost one is the last state.
			pr.previous["a"] = lost
			pr.latest["a"] = rtc("a", 1, runtime.StateRunning, 0)
			s = k.podStatus(pod, newWorker(), pr)
			cs := s.ContainerStatuses[0]
			last := cs.LastTerminationState.Terminated
			if cs.State.Running == nil || cs.RestartCount != 1 || last == nil || last.Reason != ReasonStatusUnknown || last.ExitCode != 137 || last.Message != statusUnknownDeletedMsg {
				t.Errorf("after restart: %+v", cs)
			}
		})
	}
	// Exited containers keep following the policy.
	if shouldRestart(corev1.RestartPolicyNever, rtc("a", 0, runtime.StateExited, 1)) ||
		shouldRestart(corev1.RestartPolicyOnFailure, rtc("a", 0, runtime.StateExited, 0)) ||
		!shouldRestart(corev1.RestartPolicyOnFailure, rtc("a", 0, runtime.StateExited, 1)) ||
		shouldRestart(corev1.RestartPolicyAlways, rtc("a", 0, runtime.StateRunning, 0)) {
		t.Error("shouldRestart changed for exited/running containers")
	}
}

// A status with sub-second times equals itself as the API stores it once
// normalized, and normalizing leaves what it shares with the pod alone.
func TestNormalizeStatus(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 25, 9, 17, 17, 123456789, time.UTC))
	running := &corev1.ContainerStateRunning{StartedAt: at}
	s := &corev1.PodStatus{
		StartTime:  &at,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: at}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Running: running},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{StartedAt: at, FinishedAt: at}}}},
	}
	normalizeStatus(s)
	sec := at.Rfc3339Copy()
	if !s.StartTime.Equal(&sec) || !s.Conditions[0].LastTransitionTime.Equal(&sec) ||
		!s.ContainerStatuses[0].State.Running.StartedAt.Equal(&sec) ||
		!s.ContainerStatuses[0].LastTerminationState.Terminated.FinishedAt.Equal(&sec) {
		t.Errorf("not truncated to the second: %+v", s)
	}
	if at.Nanosecond() == 0 || running.StartedAt.Nanosecond() == 0 {
		t.Error("the shared start time was changed in place")
	}
	// What the API gives back equals it: nothing to write again.
	b, _ := json.Marshal(s)
	var back corev1.PodStatus
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(&back, s) {
		t.Errorf("read back differs:\n%+v\n%+v", &back, s)
	}
}

// A status just written is not written again while the informer still shows
// the pod it replaced (the write would only meet a conflict); once the
// informer shows a newer pod, that pod's status is what counts.
func TestUpdatePodStatusOnce(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, "a")
	pod.ResourceVersion = "1"
	client := fake.NewClientset(pod.DeepCopy())
	k := &Kubelet{client: client}
	w := newWorker()
	pr := &podRuntime{sandbox: &runtime.Sandbox{ID: "sb"}, ips: []string{"10.42.0.5"}, latest: map[string]*runtime.ContainerStatus{"a": rtc("a", 0, runtime.StateRunning, 0)}, previous: map[string]*runtime.ContainerStatus{}}
	writes := func() (n int) {
		for _, a := range client.Actions() {
			if a.GetVerb() == "update" && a.GetSubresource() == "status" {
				n++
			}
		}
		return n
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := k.updatePodStatus(ctx, pod, w, pr); err != nil {
			t.Fatal(err)
		}
		// Into the next second: times computed afresh would differ from
		// those written.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	}
	if n := writes(); n != 1 {
		t.Errorf("%d status writes from a stale informer, want 1", n)
	}
	newer := pod.DeepCopy()
	newer.ResourceVersion = "3" // someone else's write, without the kubelet's status
	if err := k.updatePodStatus(ctx, newer, w, pr); err != nil {
		t.Fatal(err)
	}
	if n := writes(); n != 2 {
		t.Errorf("%d status writes after the informer moved on, want 2", n)
	}
}
