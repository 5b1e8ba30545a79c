package kubelet

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/eviction"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// updatePodStatus computes the pod's status from the runtime and writes it
// through pods/status when it changed (from the informer's pod, or from the
// status last written while the informer still shows the pod it replaced).
func (k *Kubelet) updatePodStatus(ctx context.Context, pod *corev1.Pod, w *podWorker, pr *podRuntime) error {
	base := pod
	if w != nil && w.written != nil && w.writtenOver == pod.ResourceVersion {
		// The informer has not caught up with the last write: the status
		// written is the pod's, for the start time and the conditions'
		// transition times too, or a second boundary passed since would
		// make the same status look new.
		b := *pod
		b.Status = *w.written
		base = &b
	}
	status := k.podStatus(base, w, pr)
	normalizeStatus(status)
	if apiequality.Semantic.DeepEqual(&base.Status, status) {
		return nil
	}
	p := pod.DeepCopy()
	p.Status = *status
	if _, err := k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if w != nil {
		w.written, w.writtenOver = status, pod.ResourceVersion
	}
	return nil
}

// normalizeStatus truncates the status's times to the second, as the API
// stores them, as upstream's status manager does: otherwise a status just
// written compares unequal to itself read back, and is written again. What
// it changes behind a pointer is copied first: those may still be shared
// with the informer's copy of the pod.
func normalizeStatus(s *corev1.PodStatus) {
	if s.StartTime != nil {
		t := s.StartTime.Rfc3339Copy()
		s.StartTime = &t
	}
	for i := range s.Conditions {
		c := &s.Conditions[i]
		c.LastProbeTime, c.LastTransitionTime = c.LastProbeTime.Rfc3339Copy(), c.LastTransitionTime.Rfc3339Copy()
	}
	state := func(st *corev1.ContainerState) {
		if st.Running != nil {
			r := *st.Running
			r.StartedAt = r.StartedAt.Rfc3339Copy()
			st.Running = &r
		}
		if st.Terminated != nil {
			t := *st.Terminated
			t.StartedAt, t.FinishedAt = t.StartedAt.Rfc3339Copy(), t.FinishedAt.Rfc3339Copy()
			st.Terminated = &t
		}
	}
	for _, list := range [][]corev1.ContainerStatus{s.InitContainerStatuses, s.ContainerStatuses, s.EphemeralContainerStatuses} {
		for i := range list {
			state(&list[i].State)
			state(&list[i].LastTerminationState)
		}
	}
}

// podStatus is the pod's status as upstream's kubelet generates it.
func (k *Kubelet) podStatus(pod *corev1.Pod, w *podWorker, pr *podRuntime) *corev1.PodStatus {
	old := &pod.Status
	s := &corev1.PodStatus{
		ObservedGeneration: pod.Generation,
		QOSClass:           qosClass(pod),
		StartTime:          old.StartTime,
		NominatedNodeName:  old.NominatedNodeName,
	}
	if s.StartTime == nil {
		now := metav1.Now()
		s.StartTime = &now
	}
	if k.cfg.NodeIP != nil {
		s.HostIP = k.cfg.NodeIP.String()
		s.HostIPs = []corev1.HostIP{{IP: s.HostIP}}
	}
	if pr != nil && len(pr.ips) > 0 {
		s.PodIP = pr.ips[0]
		for _, ip := range pr.ips {
			s.PodIPs = append(s.PodIPs, corev1.PodIP{IP: ip})
		}
	} else if isTerminal(old.Phase) || pod.DeletionTimestamp != nil {
		s.PodIP, s.PodIPs = old.PodIP, old.PodIPs
	}
	if pr == nil {
		pr = &podRuntime{}
	}
	alloc := k.allocation(pod, pr)
	withAlloc := func(c *corev1.Container, cs corev1.ContainerStatus) corev1.ContainerStatus {
		if latest := pr.latest[c.Name]; latest != nil && cs.ContainerID != "" {
			a, ok := alloc[c.Name]
			if !ok {
				a = c.Resources
			}
			resizeStatus(&cs, a, latest)
		}
		return cs
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		s.InitContainerStatuses = append(s.InitContainerStatuses, withAlloc(c, k.containerStatus(c, w, pr, old.InitContainerStatuses)))
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		s.ContainerStatuses = append(s.ContainerStatuses, withAlloc(c, k.containerStatus(c, w, pr, old.ContainerStatuses)))
	}
	for i := range pod.Spec.EphemeralContainers {
		c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		cs := k.containerStatus(&c, w, pr, old.EphemeralContainerStatuses)
		cs.Ready = false // an ephemeral container is never ready, as upstream
		s.EphemeralContainerStatuses = append(s.EphemeralContainerStatuses, cs)
	}

	limitTerminationMessages(pod, s)
	s.Phase = podPhase(pod, s)
	if isTerminal(old.Phase) {
		s.Phase = old.Phase // a terminal phase never changes
	}
	reason, evicted, rejected := k.rejectionOf(pod.UID)
	// Failed once the eviction killed the containers: a status computed
	// while they still run (a sync racing the eviction) must not make the
	// pod terminal, or its containers would stay reported running.
	if evicted != "" && !anyRunning(s) && (!isTerminal(old.Phase) || old.Reason == reason) {
		s.Phase, s.Reason, s.Message = corev1.PodFailed, reason, evicted
	} else if w != nil && w.deadlineExceeded && !isTerminal(s.Phase) || (w != nil && w.deadlineExceeded && old.Reason == "DeadlineExceeded") {
		s.Phase = corev1.PodFailed
		s.Reason = "DeadlineExceeded"
		s.Message = fmt.Sprintf("Pod was active on the node longer than the specified deadline")
	} else {
		s.Reason, s.Message = old.Reason, old.Message
	}

	initDone, initPending := initialized(pod, s)
	var notReady []string
	for _, cs := range s.ContainerStatuses {
		if !cs.Ready {
			notReady = append(notReady, cs.Name)
		}
	}
	conds := []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: boolCond(pr.sandbox != nil && !isTerminal(s.Phase) || pr.sandbox != nil && anyRunning(s))},
		{Type: corev1.PodInitialized, Status: boolCond(initDone)},
	}
	if !initDone {
		conds[1].Reason = "ContainersNotInitialized"
		conds[1].Message = fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(initPending, " "))
	}
	ready := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}
	switch {
	case isTerminal(s.Phase) && s.Phase == corev1.PodSucceeded:
		ready.Status, ready.Reason = corev1.ConditionFalse, "PodCompleted"
	case !initDone:
		ready.Status, ready.Reason = corev1.ConditionFalse, "ContainersNotInitialized"
		ready.Message = conds[1].Message
	case len(notReady) > 0:
		ready.Status, ready.Reason = corev1.ConditionFalse, "ContainersNotReady"
		ready.Message = fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	}
	if isTerminal(s.Phase) && ready.Status == corev1.ConditionFalse && s.Phase == corev1.PodFailed && ready.Reason == "" {
		ready.Reason = "PodFailed"
	}
	podReady := ready
	podReady.Type = corev1.PodReady
	conds = append(conds, ready, podReady)
	for _, c := range old.Conditions {
		if c.Type == corev1.PodScheduled || !ownCondition(c.Type) {
			conds = append(conds, c)
		}
	}
	// An eviction disrupts the pod; an admission's rejection, before it
	// ran, does not (upstream's rejectPod sets no condition). A status
	// written before keeps its condition, above.
	if evicted != "" && !rejected && s.Reason == eviction.Reason && !hasCondition(conds, corev1.DisruptionTarget) {
		conds = append(conds, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: corev1.PodReasonTerminationByKubelet, Message: s.Message})
	}
	if w != nil && !isTerminal(s.Phase) && pod.DeletionTimestamp == nil {
		for _, c := range []*corev1.PodCondition{w.resize.pending, w.resize.inProgress} {
			if c != nil {
				conds = append(conds, *c)
			}
		}
	}
	now := metav1.Now()
	for i := range conds {
		c := &conds[i]
		if !ownCondition(c.Type) {
			continue
		}
		// The generation the kubelet saw, as upstream's; a resize's
		// conditions keep the one of the resize.
		if c.ObservedGeneration == 0 {
			c.ObservedGeneration = pod.Generation
		}
		c.LastTransitionTime = now
		for _, o := range old.Conditions {
			if o.Type == c.Type && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	s.Conditions = conds
	return s
}

func hasCondition(conds []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return true
		}
	}
	return false
}

func ownCondition(t corev1.PodConditionType) bool {
	switch t {
	case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady,
		corev1.PodResizePending, corev1.PodResizeInProgress:
		return true
	}
	return false
}

func boolCond(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

func anyRunning(s *corev1.PodStatus) bool {
	for _, c := range s.ContainerStatuses {
		if c.State.Running != nil {
			return true
		}
	}
	return false
}

// containerStatus is one container's status: its latest attempt's state,
// the previous attempt's as lastState, or why it is waiting.
func (k *Kubelet) containerStatus(c *corev1.Container, w *podWorker, pr *podRuntime, old []corev1.ContainerStatus) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	latest := pr.latest[c.Name]
	if latest == nil {
		// Keep what an earlier kubelet reported (a restarted agent may not
		// have the exited containers any more).
		for _, o := range old {
			if o.Name == c.Name && o.State.Terminated != nil {
				o.Ready = false
				return o
			}
		}
		reason := "ContainerCreating"
		if pr.sandbox == nil {
			reason = "ContainerCreating"
		}
		if w != nil {
			if wt, ok := w.waiting[c.Name]; ok {
				cs.State.Waiting = &wt
				return cs
			}
		}
		if w == nil || pr.sandbox != nil || true {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
		}
		return cs
	}
	cs.ContainerID = "containerd://" + latest.ID
	cs.ImageID = latest.ImageRef
	cs.RestartCount = int32(latest.Attempt)
	switch latest.State {
	case runtime.StateRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(latest.StartedAt)}
		started, ready := k.probes.resultsFor(c, latest.ID)
		cs.Started = ptrBool(started)
		cs.Ready = ready
	case runtime.StateExited, runtime.StateCreated, runtime.StateUnknown:
		cs.Started = ptrBool(false)
		if wt, ok := w.waiting[c.Name]; w != nil && ok {
			cs.State.Waiting = &wt
			cs.LastTerminationState.Terminated = terminated(latest, true)
		} else {
			cs.State.Terminated = terminated(latest, false)
		}
	}
	if cs.LastTerminationState.Terminated == nil {
		if prev := pr.previous[c.Name]; prev != nil {
			cs.LastTerminationState.Terminated = terminated(prev, true)
		}
	}
	return cs
}

func ptrBool(b bool) *bool { return &b }

// Upstream's words for a container the runtime lost (its task vanished,
// say while containerd restarted): as the current state of a pod that will
// not run it again, and as the last state of one that restarted it.
const (
	ReasonStatusUnknown        = "ContainerStatusUnknown"
	statusUnknownTerminatedMsg = "The container could not be located when the pod was terminated"
	statusUnknownDeletedMsg    = "The container could not be located when the pod was deleted.  The container used to be Running"
	statusUnknownExitCode      = 137
)

// terminated is a stopped container's terminated state; last says it is
// reported as the last state of a container that is restarted.
func terminated(c *runtime.ContainerStatus, last bool) *corev1.ContainerStateTerminated {
	if c.State == runtime.StateUnknown {
		msg := statusUnknownTerminatedMsg
		if last {
			msg = statusUnknownDeletedMsg
		}
		t := &corev1.ContainerStateTerminated{
			ExitCode:    statusUnknownExitCode,
			Reason:      ReasonStatusUnknown,
			Message:     msg,
			ContainerID: "containerd://" + c.ID,
		}
		if !c.StartedAt.IsZero() {
			t.StartedAt = metav1.NewTime(c.StartedAt)
		}
		return t
	}
	reason := c.Reason
	if reason == "" {
		reason = runtime.ReasonError
		if c.ExitCode == 0 {
			reason = runtime.ReasonCompleted
		}
	}
	msg := c.Message
	if tm := terminationMessage(c); tm != "" {
		if msg != "" {
			msg += ": "
		}
		msg += tm
	}
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(c.ExitCode),
		Reason:      reason,
		Message:     msg,
		ContainerID: "containerd://" + c.ID,
		FinishedAt:  metav1.NewTime(c.FinishedAt),
	}
	if !c.StartedAt.IsZero() {
		t.StartedAt = metav1.NewTime(c.StartedAt)
	}
	return t
}

// initialized reports whether every regular init container completed (and
// every sidecar started), and the names of those that did not.
func initialized(pod *corev1.Pod, s *corev1.PodStatus) (bool, []string) {
	var pending []string
	for i, c := range pod.Spec.InitContainers {
		cs := s.InitContainerStatuses[i]
		if isSidecar(&c) {
			if cs.Started == nil || !*cs.Started {
				pending = append(pending, c.Name)
			}
			continue
		}
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			pending = append(pending, c.Name)
		}
	}
	return len(pending) == 0, pending
}

// podPhase follows upstream's getPhase.
func podPhase(pod *corev1.Pod, s *corev1.PodStatus) corev1.PodPhase {
	done, _ := initialized(pod, s)
	if !done {
		for i, c := range pod.Spec.InitContainers {
			cs := s.InitContainerStatuses[i]
			failed := cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 ||
				cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode != 0
			if failed && !isSidecar(&c) && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return corev1.PodFailed
			}
		}
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range s.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	}
	return corev1.PodPending
}

// qosClass is the pod's QoS class, as upstream's GetPodQOS computes it.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	all := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	if pod.Spec.Resources != nil {
		// Pod-level resources decide alone, as the API server's.
		all = []corev1.Container{{Resources: *pod.Spec.Resources}}
	}
	for _, c := range all {
		for name, q := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			cur := requests[name]
			cur.Add(q)
			requests[name] = cur
		}
		got := 0
		for name, q := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			got++
			cur := limits[name]
			cur.Add(q)
			limits[name] = cur
		}
		if got != 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, r := range requests {
			if l, ok := limits[name]; !ok || l.Cmp(r) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(limits) == 2 {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
