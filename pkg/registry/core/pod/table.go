package pod

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// nodeUnreachableReason is the status reason the node lifecycle controller gives pods
// of a node that stopped reporting.
const nodeUnreachableReason = "NodeLost"

// Row prints a pod as kubectl get does: NAME READY STATUS RESTARTS AGE, then IP NODE
// NOMINATED NODE READINESS GATES for -o wide. STATUS follows upstream: the phase, or the
// status reason, or the reason of the init container or container that explains it.
func Row(p *corev1.Pod) []any {
	ready, total, reason, restarts := Summary(p)
	ip, node, nominated := "<none>", "<none>", "<none>"
	if len(p.Status.PodIPs) > 0 {
		ip = p.Status.PodIPs[0].IP
	} else if p.Status.PodIP != "" {
		ip = p.Status.PodIP
	}
	if p.Spec.NodeName != "" {
		node = p.Spec.NodeName
	}
	if p.Status.NominatedNodeName != "" {
		nominated = p.Status.NominatedNodeName
	}
	gates := "<none>"
	if len(p.Spec.ReadinessGates) > 0 {
		n := 0
		for _, g := range p.Spec.ReadinessGates {
			for _, c := range p.Status.Conditions {
				if c.Type == g.ConditionType {
					if c.Status == corev1.ConditionTrue {
						n++
					}
					break
				}
			}
		}
		gates = fmt.Sprintf("%d/%d", n, len(p.Spec.ReadinessGates))
	}
	return []any{p.Name, fmt.Sprintf("%d/%d", ready, total), reason, restarts, store.Age(p.CreationTimestamp),
		ip, node, nominated, gates}
}

func isSidecar(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// Summary returns the ready and total container counts, the STATUS text and the
// RESTARTS text of a pod, as kubectl prints them.
func Summary(p *corev1.Pod) (ready, total int, reason, restartsText string) {
	restarts, sidecarRestarts := 0, 0
	total = len(p.Spec.Containers)
	var lastRestart, lastSidecarRestart metav1.Time
	reason = string(p.Status.Phase)
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}
	inits := map[string]*corev1.Container{}
	for i := range p.Spec.InitContainers {
		inits[p.Spec.InitContainers[i].Name] = &p.Spec.InitContainers[i]
		if isSidecar(&p.Spec.InitContainers[i]) {
			total++
		}
	}
	later := func(t *metav1.Time, s corev1.ContainerStatus) {
		if term := s.LastTerminationState.Terminated; term != nil && t.Before(&term.FinishedAt) {
			*t = term.FinishedAt
		}
	}
	initializing := false
	for i, s := range p.Status.InitContainerStatuses {
		restarts += int(s.RestartCount)
		later(&lastRestart, s)
		sidecar := isSidecar(inits[s.Name])
		if sidecar {
			sidecarRestarts += int(s.RestartCount)
			later(&lastSidecarRestart, s)
		}
		switch {
		case s.State.Terminated != nil && s.State.Terminated.ExitCode == 0:
			continue
		case sidecar && s.Started != nil && *s.Started:
			if s.Ready {
				ready++
			}
			continue
		case s.State.Terminated != nil:
			t := s.State.Terminated
			switch {
			case t.Reason != "":
				reason = "Init:" + t.Reason
			case t.Signal != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case s.State.Waiting != nil && s.State.Waiting.Reason != "" && s.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + s.State.Waiting.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		initializing = true
		break
	}
	if !initializing || podInitialized(p) {
		restarts = sidecarRestarts
		lastRestart = lastSidecarRestart
		running := false
		for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
			s := p.Status.ContainerStatuses[i]
			restarts += int(s.RestartCount)
			later(&lastRestart, s)
			switch {
			case s.State.Waiting != nil && s.State.Waiting.Reason != "":
				reason = s.State.Waiting.Reason
			case s.State.Terminated != nil && s.State.Terminated.Reason != "":
				reason = s.State.Terminated.Reason
			case s.State.Terminated != nil:
				if s.State.Terminated.Signal != 0 {
					reason = fmt.Sprintf("Signal:%d", s.State.Terminated.Signal)
				} else {
					reason = fmt.Sprintf("ExitCode:%d", s.State.Terminated.ExitCode)
				}
			case s.Ready && s.State.Running != nil:
				running = true
				ready++
			}
		}
		if reason == "Completed" && running {
			reason = "NotReady"
			if podReady(p) {
				reason = "Running"
			}
		}
	}
	if p.DeletionTimestamp != nil && p.Status.Reason == nodeUnreachableReason {
		reason = "Unknown"
	} else if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
		reason = "Terminating"
	}
	restartsText = strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartsText = fmt.Sprintf("%d (%s ago)", restarts, store.Age(lastRestart))
	}
	return ready, total, reason, restartsText
}

func podInitialized(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodInitialized {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
