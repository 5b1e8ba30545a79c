package daemonset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// rollingUpdate replaces old daemon pods within the strategy's bounds. Without
// surge it deletes old pods while fewer than maxUnavailable nodes are unavailable
// (manage then creates the new ones); with surge it creates new pods beside up to
// maxSurge old available ones and deletes each old pod once its new one is available.
func (c *controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	logger := klog.FromContext(ctx)
	nodeToPods, err := c.nodesToDaemonPods(ctx, ds, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	maxSurge, maxUnavailable, desired, err := c.desiredNodeCounts(logger, ds, nodes, nodeToPods)
	if err != nil {
		return fmt.Errorf("couldn't get unavailable numbers: %w", err)
	}
	now := metav1.Time{Time: c.backoff.Clock.Now()}
	available := func(p *corev1.Pod) bool { return controllers.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) }

	if maxSurge == 0 {
		var numUnavailable int
		var replacements, candidates []string
		for _, pods := range nodeToPods {
			newPod, oldPod, ok := findUpdatedPodsOnNode(ds, pods, hash)
			switch {
			case !ok, oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				numUnavailable++ // manage will create or prune here
			case newPod != nil:
				if !available(newPod) {
					numUnavailable++
				}
			case !available(oldPod):
				replacements = append(replacements, oldPod.Name)
				numUnavailable++
			case numUnavailable < maxUnavailable:
				candidates = append(candidates, oldPod.Name)
			}
		}
		remaining := min(max(maxUnavailable-numUnavailable, 0), len(candidates))
		return c.syncNodes(ctx, ds, append(replacements, candidates[:remaining]...), nil, hash)
	}

	var oldToDelete, shouldNotRunToDelete, candidateNodes, allowedNodes []string
	var numSurge, numAvailable int
	for nodeName, pods := range nodeToPods {
		newPod, oldPod, ok := findUpdatedPodsOnNode(ds, pods, hash)
		if !ok {
			numSurge++
			continue
		}
		if oldPod != nil && available(oldPod) || oldPod == nil && newPod != nil && available(newPod) {
			numAvailable++
		}
		switch {
		case oldPod == nil:
		case newPod == nil:
			node, err := c.nodeLister.Get(nodeName)
			if err != nil {
				return fmt.Errorf("couldn't get node for nodeName %q: %w", nodeName, err)
			}
			shouldRun, _ := nodeShouldRunDaemonPod(logger, node, ds)
			switch {
			case !available(oldPod) && !shouldRun:
				oldToDelete = append(oldToDelete, oldPod.Name)
			case !available(oldPod):
				allowedNodes = append(allowedNodes, nodeName)
			case !shouldRun:
				shouldNotRunToDelete = append(shouldNotRunToDelete, oldPod.Name)
			case numSurge < maxSurge:
				candidateNodes = append(candidateNodes, nodeName)
			}
		default:
			if !available(newPod) {
				numSurge++
				continue
			}
			oldToDelete = append(oldToDelete, oldPod.Name)
		}
	}
	// With surge the owner expects full availability: a pod on a node the daemon
	// no longer fits goes only once enough pods are available elsewhere.
	if deletable := min(numAvailable-desired, len(shouldNotRunToDelete)); deletable > 0 {
		oldToDelete = append(oldToDelete, shouldNotRunToDelete[:deletable]...)
	}
	remaining := min(max(maxSurge-numSurge, 0), len(candidateNodes))
	return c.syncNodes(ctx, ds, oldToDelete, append(allowedNodes, candidateNodes[:remaining]...), hash)
}

// findUpdatedPodsOnNode returns the node's new and old pod; ok is false when there
// are several of either, which manage prunes first.
func findUpdatedPodsOnNode(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if isPodUpdated(ds, pod, hash) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// desiredNodeCounts returns maxSurge, maxUnavailable and the number of nodes that
// should run the daemon, and gives each such node an entry in nodeToPods.
func (c *controller) desiredNodeCounts(logger klog.Logger, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod) (int, int, int, error) {
	desired := 0
	for _, node := range nodes {
		if run, _ := nodeShouldRunDaemonPod(logger, node, ds); !run {
			continue
		}
		desired++
		if _, ok := nodeToPods[node.Name]; !ok {
			nodeToPods[node.Name] = nil
		}
	}
	maxUnavailable, err := unavailableCount(ds, desired)
	if err != nil {
		return -1, -1, -1, fmt.Errorf("invalid value for MaxUnavailable: %w", err)
	}
	maxSurge, err := surgeCount(ds, desired)
	if err != nil {
		return -1, -1, -1, fmt.Errorf("invalid value for MaxSurge: %w", err)
	}
	if desired > 0 && maxUnavailable == 0 && maxSurge == 0 {
		maxUnavailable = 1 // an impossible configuration: accept one unavailable
	}
	return maxSurge, maxUnavailable, desired, nil
}

// templatePatch is the DaemonSet's revision data (see controllers.TemplatePatch).
func templatePatch(ds *appsv1.DaemonSet) ([]byte, error) {
	raw, err := json.Marshal(ds)
	if err != nil {
		return nil, err
	}
	return controllers.TemplatePatch(raw)
}

// matchRevision reports whether revision records ds's current template.
func matchRevision(ds *appsv1.DaemonSet, revision *appsv1.ControllerRevision) (bool, error) {
	patch, err := templatePatch(ds)
	if err != nil {
		return false, err
	}
	return bytes.Equal(patch, revision.Data.Raw), nil
}

// constructHistory returns the revision of ds's current template (creating it, or
// renumbering it to the newest) and the older ones.
func (c *controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	histories, err := c.controlledHistories(ctx, ds)
	if err != nil {
		return nil, nil, err
	}
	var current []*appsv1.ControllerRevision
	for _, h := range histories {
		// Revisions made before the hash label existed get their name as the hash.
		if _, ok := h.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; !ok {
			toUpdate := h.DeepCopy()
			if toUpdate.Labels == nil {
				toUpdate.Labels = map[string]string{}
			}
			toUpdate.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = toUpdate.Name
			if h, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, toUpdate, metav1.UpdateOptions{}); err != nil {
				return nil, nil, err
			}
		}
		found, err := matchRevision(ds, h)
		if err != nil {
			return nil, nil, err
		}
		if found {
			current = append(current, h)
		} else {
			old = append(old, h)
		}
	}
	next := maxRevision(old) + 1
	if len(current) == 0 {
		cur, err = c.snapshot(ctx, ds, next)
		return cur, old, err
	}
	if cur, err = c.dedupCurHistories(ctx, ds, current); err != nil {
		return nil, nil, err
	}
	if cur.Revision < next {
		toUpdate := cur.DeepCopy()
		toUpdate.Revision = next
		if cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, toUpdate, metav1.UpdateOptions{}); err != nil {
			return nil, nil, err
		}
	}
	return cur, old, nil
}

func maxRevision(revs []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, r := range revs {
		m = max(m, r.Revision)
	}
	return m
}

// dedupCurHistories keeps the newest of several revisions of the current template,
// relabelling pods that carry the others' hashes before deleting those.
func (c *controller) dedupCurHistories(ctx context.Context, ds *appsv1.DaemonSet, cur []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	if len(cur) == 1 {
		return cur[0], nil
	}
	keep := cur[0]
	for _, r := range cur {
		if r.Revision >= keep.Revision {
			keep = r
		}
	}
	pods, err := c.daemonPods(ctx, ds)
	if err != nil {
		return nil, err
	}
	keepHash := keep.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	for _, pod := range pods {
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == keepHash {
			continue
		}
		patch, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
			"labels": map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: keepHash}}})
		if _, err := c.client.CoreV1().Pods(ds.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return nil, err
		}
	}
	for _, r := range cur {
		if r.Name != keep.Name {
			if err := c.history.Delete(ctx, r); err != nil {
				return nil, err
			}
		}
	}
	return keep, nil
}

// controlledHistories returns the revisions ds controls, adopting matching orphans
// and releasing those that no longer match.
func (c *controller) controlledHistories(ctx context.Context, ds *appsv1.DaemonSet) ([]*appsv1.ControllerRevision, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	all, err := c.history.Lister.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	refs := &controllers.RefManager{Owner: ds, GVK: controllerKind, Selector: selector,
		CanAdopt: controllers.RecheckDeletionTimestamp(ds.UID, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		})}
	return c.history.Claim(ctx, refs, all)
}

// snapshot records ds's template as revision number revision, named
// <ds>-<controller-revision-hash>. On a name taken by another template it bumps
// status.collisionCount and fails, so that the retry hashes differently.
func (c *controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, revision int64) (*appsv1.ControllerRevision, error) {
	patch, err := templatePatch(ds)
	if err != nil {
		return nil, err
	}
	hash := controllers.ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := make(map[string]string, len(ds.Spec.Template.Labels)+1)
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ds.Name + "-" + hash,
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     ds.Annotations,
			OwnerReferences: []metav1.OwnerReference{*controllers.NewControllerRef(ds, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}
	revs := c.client.AppsV1().ControllerRevisions(ds.Namespace)
	created, err := revs.Create(ctx, rev, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return created, err
	}
	existing, getErr := revs.Get(ctx, rev.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, getErr
	}
	if done, matchErr := matchRevision(ds, existing); matchErr != nil || done {
		return existing, matchErr
	}
	fresh, getErr := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, getErr
	}
	if !reflect.DeepEqual(fresh.Status.CollisionCount, ds.Status.CollisionCount) {
		return nil, fmt.Errorf("found a stale collision count (%v, expected %v) of DaemonSet %q while processing; will retry until it is updated",
			ds.Status.CollisionCount, fresh.Status.CollisionCount, ds.Name)
	}
	if fresh.Status.CollisionCount == nil {
		fresh.Status.CollisionCount = new(int32)
	}
	*fresh.Status.CollisionCount++
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	klog.FromContext(ctx).V(2).Info("Found a hash collision for DaemonSet - bumping collisionCount to resolve it", "daemonset", klog.KObj(ds), "collisionCount", *fresh.Status.CollisionCount)
	return nil, err
}

// cleanupHistory deletes old revisions that no pod runs, oldest first, until at
// most revisionHistoryLimit old revisions remain.
func (c *controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision) error {
	nodeToPods, err := c.nodesToDaemonPods(ctx, ds, true)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	live := map[string]bool{}
	for _, pods := range nodeToPods {
		for _, pod := range pods {
			if h := pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
				live[h] = true
			}
		}
	}
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	// Unlike a StatefulSet's, the limit counts live old revisions too (upstream).
	toKill := len(old) - limit
	controllers.SortControllerRevisions(old)
	for _, r := range old {
		if toKill <= 0 {
			break
		}
		if live[r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		if err := c.history.Delete(ctx, r); err != nil {
			return err
		}
		toKill--
	}
	return nil
}
