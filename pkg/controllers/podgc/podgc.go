// Package podgc force-deletes pods no kubelet will ever finish, as upstream's pod
// garbage collector does, every 20 seconds:
//   - terminated pods beyond the --terminated-pod-gc-threshold (12500), evicted
//     and oldest first;
//   - terminating pods on nodes that are not Ready and carry the
//     node.kubernetes.io/out-of-service taint;
//   - orphaned pods bound to a node that no longer exists (after 40 s of
//     quarantine, confirmed by a fresh read, so a re-registering node keeps its
//     pods), marked with the DisruptionTarget condition (DeletionByPodGC) first;
//   - terminating pods that were never scheduled.
//
// An unfinished pod is set to phase Failed before it is deleted, so that
// controllers that count failures (the Job controller) see it fail.
package podgc

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

const (
	// gcCheckPeriod is how often the collector runs.
	gcCheckPeriod = 20 * time.Second
	// quarantineTime is how long a node must stay missing before its pods go.
	quarantineTime = 40 * time.Second
	// DefaultTerminatedPodThreshold is upstream's --terminated-pod-gc-threshold.
	DefaultTerminatedPodThreshold = 12500
)

// Controller is the pod garbage collector.
type Controller struct {
	client     kubernetes.Interface
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	// nodeQueue holds the names of missing nodes until their quarantine is over.
	nodeQueue              workqueue.TypedDelayingInterface[string]
	terminatedPodThreshold int
	quarantineTime         time.Duration
}

// Start registers the pod and node informers and runs the collector periodically.
func Start(ctx context.Context, c *controllers.Context) error {
	pods := c.Informers.Core().V1().Pods()
	nodes := c.Informers.Core().V1().Nodes()
	gcc := newController(c.Client, pods.Lister(), nodes.Lister(), DefaultTerminatedPodThreshold)
	podsSynced, nodesSynced := pods.Informer().HasSynced, nodes.Informer().HasSynced
	c.Go(func() {
		defer gcc.nodeQueue.ShutDown()
		if !controllers.WaitForCacheSync(ctx, "podgc", podsSynced, nodesSynced) {
			return
		}
		wait.UntilWithContext(ctx, gcc.gc, gcCheckPeriod)
	})
	return nil
}

func newController(client kubernetes.Interface, pods corelisters.PodLister, nodes corelisters.NodeLister, threshold int) *Controller {
	return &Controller{client: client, podLister: pods, nodeLister: nodes,
		nodeQueue:              workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "orphaned_pods_nodes"}),
		terminatedPodThreshold: threshold, quarantineTime: quarantineTime}
}

func (gcc *Controller) gc(ctx context.Context) {
	logger := klog.FromContext(ctx)
	pods, err := gcc.podLister.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Error while listing all pods")
		return
	}
	nodes, err := gcc.nodeLister.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Error while listing all nodes")
		return
	}
	if gcc.terminatedPodThreshold > 0 {
		gcc.gcTerminated(ctx, pods)
	}
	gcc.gcTerminating(ctx, pods, nodes)
	gcc.gcOrphaned(ctx, pods, nodes)
	gcc.gcUnscheduledTerminating(ctx, pods)
}

func isPodTerminated(p *corev1.Pod) bool {
	ph := p.Status.Phase
	return ph != corev1.PodPending && ph != corev1.PodRunning && ph != corev1.PodUnknown
}

func isPodTerminating(p *corev1.Pod) bool {
	return !isPodTerminated(p) && p.DeletionTimestamp != nil
}

func isEvicted(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "Evicted"
}

// gcTerminated deletes the terminated pods beyond the threshold, evicted first,
// then the oldest.
func (gcc *Controller) gcTerminated(ctx context.Context, pods []*corev1.Pod) {
	var terminated []*corev1.Pod
	for _, p := range pods {
		if isPodTerminated(p) {
			terminated = append(terminated, p)
		}
	}
	n := len(terminated) - gcc.terminatedPodThreshold
	if n <= 0 {
		return
	}
	sort.SliceStable(terminated, func(i, j int) bool {
		a, b := terminated[i], terminated[j]
		if isEvicted(a) != isEvicted(b) {
			return isEvicted(a)
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	klog.FromContext(ctx).Info("Garbage collecting pods", "numPods", n)
	for _, p := range terminated[:n] {
		gcc.deleteLogged(ctx, p, nil, "terminated")
	}
}

// gcTerminating deletes terminating pods on out-of-service nodes that are down:
// their kubelet will never confirm the deletion.
func (gcc *Controller) gcTerminating(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	down := sets.New[string]()
	for _, n := range nodes {
		if !nodeReady(n) && hasTaint(n, corev1.TaintNodeOutOfService) {
			down.Insert(n.Name)
		}
	}
	for _, p := range pods {
		if isPodTerminating(p) && down.Has(p.Spec.NodeName) {
			gcc.deleteLogged(ctx, p, nil, "terminating on an out-of-service node")
		}
	}
}

// gcOrphaned deletes the pods of nodes gone for longer than the quarantine.
func (gcc *Controller) gcOrphaned(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) {
	existing := sets.New[string]()
	for _, n := range nodes {
		existing.Insert(n.Name)
	}
	for _, p := range pods {
		if p.Spec.NodeName != "" && !existing.Has(p.Spec.NodeName) {
			gcc.nodeQueue.AddAfter(p.Spec.NodeName, gcc.quarantineTime)
		}
	}
	deleted := gcc.discoverDeletedNodes(ctx, existing)
	for _, p := range pods {
		if !deleted.Has(p.Spec.NodeName) {
			continue
		}
		cond := &corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: "DeletionByPodGC", Message: "PodGC: node no longer exists", LastTransitionTime: metav1.Now()}
		gcc.deleteLogged(ctx, p, cond, "orphaned")
	}
}

// discoverDeletedNodes takes the nodes whose quarantine is over and confirms with
// the API that they are still gone.
func (gcc *Controller) discoverDeletedNodes(ctx context.Context, existing sets.Set[string]) sets.Set[string] {
	deleted := sets.New[string]()
	for gcc.nodeQueue.Len() > 0 {
		name, quit := gcc.nodeQueue.Get()
		if quit {
			return deleted
		}
		if !existing.Has(name) {
			_, err := gcc.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				deleted.Insert(name)
			case err != nil:
				klog.FromContext(ctx).Error(err, "Error while getting node", "node", name)
				gcc.nodeQueue.AddAfter(name, gcc.quarantineTime)
			}
		}
		gcc.nodeQueue.Done(name)
	}
	return deleted
}

// gcUnscheduledTerminating deletes terminating pods that no node ever had.
func (gcc *Controller) gcUnscheduledTerminating(ctx context.Context, pods []*corev1.Pod) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Spec.NodeName == "" {
			gcc.deleteLogged(ctx, p, nil, "unscheduled terminating")
		}
	}
}

func (gcc *Controller) deleteLogged(ctx context.Context, p *corev1.Pod, cond *corev1.PodCondition, why string) {
	logger := klog.FromContext(ctx)
	if err := gcc.markFailedAndDeletePod(ctx, p, cond); err != nil && !apierrors.IsNotFound(err) {
		logger.Error(err, "Failed to delete pod", "pod", klog.KObj(p), "reason", why)
		return
	}
	logger.Info("PodGC is force deleting Pod", "pod", klog.KObj(p), "reason", why)
}

// markFailedAndDeletePod sets an unfinished pod's phase to Failed (with cond, when
// given), then deletes it with no grace period.
func (gcc *Controller) markFailedAndDeletePod(ctx context.Context, p *corev1.Pod, cond *corev1.PodCondition) error {
	if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
		status := map[string]interface{}{"phase": corev1.PodFailed}
		if cond != nil {
			status["conditions"] = []*corev1.PodCondition{cond}
		}
		patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"uid": p.UID}, "status": status})
		if err != nil {
			return err
		}
		if _, err := gcc.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("mark pod %s/%s failed: %w", p.Namespace, p.Name, err)
		}
	}
	var zero int64
	err := gcc.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
