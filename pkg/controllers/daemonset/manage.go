package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// manage creates the daemon pods missing on nodes that should run one and deletes
// those on nodes that should not, plus failed and excess ones.
func (c *controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	nodeToPods, err := c.nodesToDaemonPods(ctx, ds, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	var create, del []string
	for _, node := range nodes {
		nc, nd := c.podsShouldBeOnNode(ctx, node, nodeToPods, ds, hash)
		create = append(create, nc...)
		del = append(del, nd...)
	}
	// Pods pinned to nodes that no longer exist are never scheduled, and so never
	// collected by the pod GC: delete them here.
	exists := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		exists[n.Name] = true
	}
	for node, pods := range nodeToPods {
		if exists[node] {
			continue
		}
		for _, p := range pods {
			if p.Spec.NodeName == "" {
				del = append(del, p.Name)
			}
		}
	}
	return c.syncNodes(ctx, ds, del, create, hash)
}

func failedPodsBackoffKey(ds *appsv1.DaemonSet, node string) string {
	return fmt.Sprintf("%s/%d/%s", ds.UID, ds.Status.ObservedGeneration, node)
}

// podsShouldBeOnNode returns whether node needs a daemon pod and which of its
// daemon pods to delete.
func (c *controller) podsShouldBeOnNode(ctx context.Context, node *corev1.Node, nodeToPods map[string][]*corev1.Pod, ds *appsv1.DaemonSet, hash string) (create, del []string) {
	logger := klog.FromContext(ctx)
	shouldRun, shouldContinue := nodeShouldRunDaemonPod(logger, node, ds)
	pods, exists := nodeToPods[node.Name]
	switch {
	case shouldRun && !exists:
		create = append(create, node.Name)
	case shouldContinue:
		var running []*corev1.Pod
		for _, pod := range pods {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Status.Phase == corev1.PodFailed:
				// A kubelet that keeps rejecting the pod would otherwise have us
				// recreate it in a hot loop: delete at most once per backoff period.
				key := failedPodsBackoffKey(ds, node.Name)
				now := c.backoff.Clock.Now()
				if c.backoff.IsInBackOffSinceUpdate(key, now) {
					delay := c.backoff.Get(key)
					logger.V(4).Info("Deleting failed pod on node has been limited by backoff", "pod", klog.KObj(pod), "node", klog.KObj(node), "currentDelay", delay)
					c.enqueueAfter(ds, delay)
					continue
				}
				c.backoff.Next(key, now)
				c.recorder.Eventf(ds, corev1.EventTypeWarning, failedDaemonPodReason,
					"Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
				del = append(del, pod.Name)
			case pod.Status.Phase == corev1.PodSucceeded:
				c.recorder.Eventf(ds, corev1.EventTypeNormal, succeededDaemonPodReason,
					"Found succeeded daemon pod %s/%s on node %s, will try to delete it", pod.Namespace, pod.Name, node.Name)
				del = append(del, pod.Name)
			default:
				running = append(running, pod)
			}
		}
		byCreationTimestampAndPhase(running)
		if !allowsSurge(ds) {
			// keep the oldest
			for i := 1; i < len(running); i++ {
				del = append(del, running[i].Name)
			}
			break
		}
		if len(running) == 0 && shouldRun {
			create = append(create, node.Name)
			break
		}
		if len(running) <= 1 {
			break
		}
		// Surging: keep the oldest new pod and the oldest old pod; the old one goes
		// once it is not ready or the new one is available.
		var oldestNew, oldestOld *corev1.Pod
		for _, pod := range running {
			if pod.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
				if oldestNew == nil {
					oldestNew = pod
					continue
				}
			} else if oldestOld == nil {
				oldestOld = pod
				continue
			}
			del = append(del, pod.Name)
		}
		if oldestNew != nil && oldestOld != nil {
			if !controllers.IsPodReady(oldestOld) ||
				controllers.IsPodAvailable(oldestNew, ds.Spec.MinReadySeconds, metav1.Time{Time: c.backoff.Clock.Now()}) {
				del = append(del, oldestOld.Name)
			}
		}
	case !shouldContinue && exists:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				del = append(del, pod.Name)
			}
		}
	}
	return create, del
}

// syncNodes deletes pods and creates daemon pods pinned to nodes, at most
// burstReplicas of each, creating in slow-start batches so that a systematic error
// (a quota, say) fails once rather than once per node.
func (c *controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, del, create []string, hash string) error {
	logger := klog.FromContext(ctx)
	key, ok := controllers.Key(ds)
	if !ok {
		return fmt.Errorf("couldn't get key for object %#v", ds)
	}
	createDiff, deleteDiff := min(len(create), burstReplicas), min(len(del), burstReplicas)
	c.expectations.Expect(key, createDiff, deleteDiff)

	var mu sync.Mutex
	var errs []error
	record := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	template := newPodTemplate(ds, hash)
	ref := controllers.NewControllerRef(ds, controllerKind)
	batch := min(createDiff, 1)
	for pos := 0; pos < createDiff; batch, pos = min(2*batch, createDiff-(pos+batch)), pos+batch {
		before := len(errs)
		var wg sync.WaitGroup
		for i := pos; i < pos+batch; i++ {
			wg.Add(1)
			go func(node string) {
				defer wg.Done()
				t := template.DeepCopy()
				// The scheduler binds the pod to its node through this affinity.
				t.Spec.Affinity = nodeAffinityFor(t.Spec.Affinity, node)
				pod := controllers.PodFromTemplate(t, ds, ref)
				if _, err := c.podControl.CreatePod(ctx, pod, ds); err != nil {
					if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
						return // every later create fails the same way
					}
					logger.V(2).Info("Failed creation, decrementing expectations for daemon set", "daemonset", klog.KObj(ds))
					c.expectations.CreationObserved(key)
					record(err)
				}
			}(create[i])
		}
		wg.Wait()
		if skipped := createDiff - (pos + batch); len(errs) > before && skipped > 0 {
			logger.V(2).Info("Slow-start failure. Skipping creation pods, decrementing expectations for daemon set", "skippedPods", skipped, "daemonset", klog.KObj(ds))
			for i := 0; i < skipped; i++ {
				c.expectations.CreationObserved(key)
			}
			break
		}
	}

	var wg sync.WaitGroup
	for i := 0; i < deleteDiff; i++ {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			if err := c.podControl.DeletePod(ctx, ds.Namespace, name, ds); err != nil {
				c.expectations.DeletionObserved(key)
				record(err)
			}
		}(del[i])
	}
	wg.Wait()
	return errors.Join(errs...)
}

// updateStatus counts the daemon pods per node and writes the status when it changed.
func (c *controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string, updateObservedGen bool) error {
	nodeToPods, err := c.nodesToDaemonPods(ctx, ds, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	logger := klog.FromContext(ctx)
	now := metav1.Time{Time: c.backoff.Clock.Now()}
	var st appsv1.DaemonSetStatus
	for _, node := range nodes {
		shouldRun, _ := nodeShouldRunDaemonPod(logger, node, ds)
		pods := nodeToPods[node.Name]
		if !shouldRun {
			if len(pods) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		byCreationTimestampAndPhase(pods)
		pod := pods[0]
		if controllers.IsPodReady(pod) {
			st.NumberReady++
			if controllers.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		if isPodUpdated(ds, pod, hash) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	if err := c.storeStatus(ctx, ds, st, updateObservedGen); err != nil {
		return fmt.Errorf("error storing status for daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	// Availability after minReadySeconds comes with no event: look again then.
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.enqueueAfter(ds, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}

func (c *controller) storeStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus, updateObservedGen bool) error {
	s := ds.Status
	if s.DesiredNumberScheduled == st.DesiredNumberScheduled && s.CurrentNumberScheduled == st.CurrentNumberScheduled &&
		s.NumberMisscheduled == st.NumberMisscheduled && s.NumberReady == st.NumberReady &&
		s.UpdatedNumberScheduled == st.UpdatedNumberScheduled && s.NumberAvailable == st.NumberAvailable &&
		s.NumberUnavailable == st.NumberUnavailable && s.ObservedGeneration >= ds.Generation {
		return nil
	}
	client := c.client.AppsV1().DaemonSets(ds.Namespace)
	toUpdate := ds.DeepCopy()
	for i := 0; ; i++ {
		if updateObservedGen {
			toUpdate.Status.ObservedGeneration = ds.Generation
		}
		toUpdate.Status.DesiredNumberScheduled = st.DesiredNumberScheduled
		toUpdate.Status.CurrentNumberScheduled = st.CurrentNumberScheduled
		toUpdate.Status.NumberMisscheduled = st.NumberMisscheduled
		toUpdate.Status.NumberReady = st.NumberReady
		toUpdate.Status.UpdatedNumberScheduled = st.UpdatedNumberScheduled
		toUpdate.Status.NumberAvailable = st.NumberAvailable
		toUpdate.Status.NumberUnavailable = st.NumberUnavailable
		_, err := client.UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{})
		if err == nil || i >= statusUpdateRetries {
			return err
		}
		var getErr error
		if toUpdate, getErr = client.Get(ctx, ds.Name, metav1.GetOptions{}); getErr != nil {
			return getErr
		}
	}
}
