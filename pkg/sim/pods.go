package sim

import (
	"context"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// podWorkers is how many pod status writes run at once.
const podWorkers = 16

// podRunner plays the kubelet for the pods bound to simulated nodes.
type podRunner struct {
	sim    *Sim
	lister corelisters.PodLister
	synced cache.InformerSynced
	queue  controllers.Queue

	mu  sync.Mutex
	ips map[types.UID]*node // pods holding an address, to release it when they go
}

func newPodRunner(s *Sim, informer coreinformers.PodInformer) *podRunner {
	r := &podRunner{sim: s, lister: informer.Lister(), synced: informer.Informer().HasSynced,
		queue: controllers.NewQueue("sim-pods"), ips: map[types.UID]*node{}}
	_, _ = informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    r.enqueue,
		UpdateFunc: func(_, obj interface{}) { r.enqueue(obj) },
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				r.release(p.UID)
			}
		},
	})
	return r
}

func (r *podRunner) enqueue(obj interface{}) {
	if p, ok := obj.(*corev1.Pod); ok && r.sim.nodes[p.Spec.NodeName] != nil {
		controllers.Enqueue(r.queue, p)
	}
}

func (r *podRunner) release(uid types.UID) {
	r.mu.Lock()
	n := r.ips[uid]
	delete(r.ips, uid)
	r.mu.Unlock()
	if n != nil {
		n.releaseIP(string(uid))
	}
}

func (r *podRunner) run(ctx context.Context) {
	controllers.RunWorkers(ctx, "sim-pods", r.queue, podWorkers, r.sync, r.synced)
}

func (r *podRunner) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := r.lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	n := r.sim.nodes[pod.Spec.NodeName]
	if n == nil {
		return nil
	}
	pods := r.sim.client.CoreV1().Pods(ns)
	if pod.DeletionTimestamp != nil {
		// No containers to stop: the pod is gone as soon as it is asked to go.
		err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0)),
			Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
		r.release(pod.UID)
		return nil
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		r.release(pod.UID)
		return nil
	}
	podIP := n.ip
	if !pod.Spec.HostNetwork {
		r.mu.Lock()
		r.ips[pod.UID] = n
		r.mu.Unlock()
		podIP = n.podIP(string(pod.UID), r.sim.nodeIndex(n.name))
	}
	status, requeue := desiredStatus(pod, n.ip, podIP, time.Now())
	if requeue > 0 {
		r.queue.AddAfter(key, requeue)
	}
	if apiequality.Semantic.DeepEqual(status, &pod.Status) {
		return nil
	}
	p := pod.DeepCopy()
	p.Status = *status
	_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// desiredStatus is the status a kubelet would report for pod now, and how long
// until it changes by itself (0: not by itself). Times already in the pod's status
// are kept, so that writing it again changes nothing.
func desiredStatus(pod *corev1.Pod, hostIP, podIP string, now time.Time) (*corev1.PodStatus, time.Duration) {
	old := &pod.Status
	st := old.DeepCopy()
	nowT := metav1.NewTime(now.Truncate(time.Second))
	if st.StartTime == nil {
		st.StartTime = &nowT
	}
	st.HostIP, st.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	if podIP != "" {
		st.PodIP, st.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	}

	// The main containers' run: when it started, and whether it has ended.
	restarts := int32(0)
	runStart := nowT
	for _, cs := range old.ContainerStatuses {
		restarts = cs.RestartCount
		if cs.State.Running != nil {
			runStart = cs.State.Running.StartedAt
		}
		break
	}
	exitAfter, _ := time.ParseDuration(pod.Annotations[AnnotationExitAfter])
	exitCode, _ := strconv.Atoi(pod.Annotations[AnnotationExitCode])
	notReady := pod.Annotations[AnnotationNotReady] == "true"
	var requeue time.Duration
	terminated := false
	var lastState corev1.ContainerState
	if exitAfter > 0 {
		end := runStart.Add(exitAfter)
		if now.Before(end) {
			requeue = end.Sub(now) + 10*time.Millisecond
		} else {
			endT := metav1.NewTime(end.Truncate(time.Second))
			exited := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: int32(exitCode), Reason: exitReason(exitCode), StartedAt: runStart, FinishedAt: endT}}
			rp := pod.Spec.RestartPolicy
			if rp == corev1.RestartPolicyNever || (rp == corev1.RestartPolicyOnFailure && exitCode == 0) {
				terminated = true
				lastState = exited
			} else {
				restarts++
				runStart = nowT
				requeue = exitAfter
				lastState = exited
			}
		}
	}

	var statuses []corev1.ContainerStatus
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "sim://" + c.Image,
			ContainerID: "sim://" + string(pod.UID) + "/" + c.Name, RestartCount: restarts, Started: ptr.To(!terminated)}
		if terminated {
			cs.State = lastState
		} else {
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: runStart}}
			cs.Ready = !notReady
			if lastState.Terminated != nil {
				cs.LastTerminationState = lastState
			} else if prev := findStatus(old.ContainerStatuses, c.Name); prev != nil {
				cs.LastTerminationState = prev.LastTerminationState
			}
		}
		statuses = append(statuses, cs)
	}
	st.ContainerStatuses = statuses
	var inits []corev1.ContainerStatus
	for _, c := range pod.Spec.InitContainers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "sim://" + c.Image,
			ContainerID: "sim://" + string(pod.UID) + "/" + c.Name, Started: ptr.To(false)}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways && !terminated {
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: *st.StartTime}}
			cs.Ready, cs.Started = true, ptr.To(true)
		} else {
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: *st.StartTime, FinishedAt: *st.StartTime}}
		}
		inits = append(inits, cs)
	}
	st.InitContainerStatuses = inits

	ready := !terminated && !notReady
	switch {
	case !terminated:
		st.Phase = corev1.PodRunning
	case exitCode == 0:
		st.Phase = corev1.PodSucceeded
	default:
		st.Phase = corev1.PodFailed
	}
	setCondition(st, corev1.PodReadyToStartContainers, !terminated, "", nowT)
	setCondition(st, corev1.PodInitialized, true, "", nowT)
	reason := ""
	if !ready {
		reason = "ContainersNotReady"
		if terminated {
			reason = "PodCompleted"
		}
	}
	setCondition(st, corev1.ContainersReady, ready, reason, nowT)
	setCondition(st, corev1.PodReady, ready, reason, nowT)
	setCondition(st, corev1.PodScheduled, true, "", nowT)
	return st, requeue
}

func exitReason(code int) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

func findStatus(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

// setCondition sets a pod condition, keeping its transition time when its status
// does not change.
func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, ok bool, reason string, now metav1.Time) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.Status, c.LastTransitionTime = status, now
		}
		c.Reason = reason
		c.Message = ""
		if reason == "ContainersNotReady" {
			c.Message = "containers with unready status"
		}
		return
	}
	c := corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: now}
	if reason == "ContainersNotReady" {
		c.Message = "containers with unready status"
	}
	st.Conditions = append(st.Conditions, c)
}
