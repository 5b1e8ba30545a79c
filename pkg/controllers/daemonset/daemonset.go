// Package daemonset is skiff's DaemonSet controller, after upstream's
// pkg/controller/daemon: one pod per eligible node (nodeSelector, required node
// affinity, taints against the pod's tolerations plus the daemon tolerations),
// pinned to its node through a required matchFields metadata.name node affinity so
// that the scheduler binds it; RollingUpdate (maxUnavailable, maxSurge) or OnDelete;
// ControllerRevisions labelled with controller-revision-hash for `kubectl rollout`;
// failed daemon pods deleted under a per-node backoff, never in a hot loop.
//
//	controllers.Context → Start → informers (daemonsets, pods, nodes, revisions) → queue → sync(key)
package daemonset

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Name is the controller's event source, as upstream names it.
const Name = "daemonset-controller"

const (
	// burstReplicas caps the pods one sync creates or deletes.
	burstReplicas = 250
	// statusUpdateRetries bounds the conflict retries of a status write.
	statusUpdateRetries = 1
	// Failed daemon pods are deleted (and so recreated) at most once per backoff
	// period per node: 1s doubling to 15 minutes.
	failedPodsBackoffInitial = time.Second
	failedPodsBackoffMax     = 15 * time.Minute
)

// Event reasons, as upstream's.
const (
	selectingAllReason       = "SelectingAll"
	failedDaemonPodReason    = "FailedDaemonPod"
	succeededDaemonPodReason = "SucceededDaemonPod"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

type controller struct {
	client       kubernetes.Interface
	dsLister     appslisters.DaemonSetLister
	podLister    corelisters.PodLister
	nodeLister   corelisters.NodeLister
	history      controllers.History
	podControl   controllers.PodControl
	recorder     record.EventRecorder
	expectations *controllers.Expectations
	backoff      *flowcontrol.Backoff
	queue        controllers.Queue
}

// Start registers the controller's informers and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	dss := c.Informers.Apps().V1().DaemonSets()
	pods := c.Informers.Core().V1().Pods()
	nodes := c.Informers.Core().V1().Nodes()
	revs := c.Informers.Apps().V1().ControllerRevisions()
	ctl := newController(c.Client, dss.Lister(), pods.Lister(), nodes.Lister(), revs.Lister(), c.Recorder(Name))
	if err := ctl.registerHandlers(klog.FromContext(ctx), dss.Informer(), pods.Informer(), nodes.Informer(), revs.Informer()); err != nil {
		return err
	}
	synced := []cache.InformerSynced{dss.Informer().HasSynced, pods.Informer().HasSynced,
		nodes.Informer().HasSynced, revs.Informer().HasSynced}
	c.Go(func() { controllers.RunWorkers(ctx, Name, ctl.queue, 2, ctl.sync, synced...) })
	c.Go(func() { wait.Until(ctl.backoff.GC, time.Minute, ctx.Done()) })
	return nil
}

func newController(client kubernetes.Interface, dsLister appslisters.DaemonSetLister, podLister corelisters.PodLister,
	nodeLister corelisters.NodeLister, revLister appslisters.ControllerRevisionLister, recorder record.EventRecorder) *controller {
	return &controller{
		client:       client,
		dsLister:     dsLister,
		podLister:    podLister,
		nodeLister:   nodeLister,
		history:      controllers.History{Client: client, Lister: revLister},
		podControl:   controllers.PodControl{Client: client, Recorder: recorder},
		recorder:     recorder,
		expectations: controllers.NewExpectations(),
		backoff:      flowcontrol.NewBackOff(failedPodsBackoffInitial, failedPodsBackoffMax),
		queue:        controllers.NewQueue("daemonset"),
	}
}

func (c *controller) registerHandlers(logger klog.Logger, dss, pods, nodes, revs cache.SharedIndexInformer) error {
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandlerFuncs
	}{
		{dss, controllers.EnqueueHandler(c.queue)},
		{pods, c.podHandlers().Funcs()},
		{nodes, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj interface{}) { c.nodeChanged(logger, nil, obj.(*corev1.Node)) },
			UpdateFunc: func(old, cur interface{}) { c.nodeChanged(logger, old.(*corev1.Node), cur.(*corev1.Node)) },
		}},
		{revs, cache.ResourceEventHandlerFuncs{AddFunc: c.revisionChanged, UpdateFunc: func(_, cur interface{}) { c.revisionChanged(cur) },
			DeleteFunc: c.revisionChanged}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return err
		}
	}
	return nil
}

func (c *controller) enqueue(obj interface{}) { controllers.Enqueue(c.queue, obj) }

func (c *controller) enqueueAfter(ds *appsv1.DaemonSet, d time.Duration) {
	controllers.EnqueueAfter(c.queue, ds, d)
}

func (c *controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	return controllers.ResolveControllerRef(ref, controllerKind.Kind, c.dsLister.DaemonSets(namespace).Get)
}

// podHandlers wake the DaemonSet of a pod, or those that may adopt an orphan, and
// count the creations and deletions it expects.
func (c *controller) podHandlers() *controllers.OwnedHandlers[*appsv1.DaemonSet, *corev1.Pod] {
	return &controllers.OwnedHandlers[*appsv1.DaemonSet, *corev1.Pod]{
		Resolve: c.resolveControllerRef,
		Matching: func(pod *corev1.Pod) []*appsv1.DaemonSet {
			dss, _ := c.dsLister.GetPodDaemonSets(pod)
			return dss
		},
		Enqueue: func(ds *appsv1.DaemonSet) { c.enqueue(ds) },
		Created: func(ds *appsv1.DaemonSet, _ *corev1.Pod) {
			if key, ok := controllers.Key(ds); ok {
				c.expectations.CreationObserved(key)
			}
		},
		Deleted: func(ds *appsv1.DaemonSet, _ *corev1.Pod) {
			if key, ok := controllers.Key(ds); ok {
				c.expectations.DeletionObserved(key)
			}
		},
		Updated: func(ds *appsv1.DaemonSet, old, cur *corev1.Pod) {
			if after, ok := controllers.BecameAvailableAfter(old, cur, ds.Spec.MinReadySeconds); ok {
				c.enqueueAfter(ds, after)
			}
		},
		// Count a graceful deletion as done as soon as it starts, so the
		// replacement is not held back by the grace period.
		DeleteOnTerminating: true,
	}
}

// nodeChanged enqueues the DaemonSets whose placement a new or changed node affects.
func (c *controller) nodeChanged(logger klog.Logger, old, cur *corev1.Node) {
	if old != nil && apiequality.Semantic.DeepEqual(old.Labels, cur.Labels) && apiequality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
		return
	}
	dss, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range dss {
		run, cont := nodeShouldRunDaemonPod(logger, cur, ds)
		if old == nil {
			if run {
				c.enqueue(ds)
			}
			continue
		}
		if oldRun, oldCont := nodeShouldRunDaemonPod(logger, old, ds); oldRun != run || oldCont != cont {
			c.enqueue(ds)
		}
	}
}

// revisionChanged wakes the DaemonSet that controls a revision, or those that may
// adopt an orphan one.
func (c *controller) revisionChanged(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	rev, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(rev); ref != nil {
		if ds := c.resolveControllerRef(rev.Namespace, ref); ds != nil {
			c.enqueue(ds)
		}
		return
	}
	dss, _ := c.dsLister.GetHistoryDaemonSets(rev)
	for _, ds := range dss {
		c.enqueue(ds)
	}
}

// sync reconciles the DaemonSet named by key.
func (c *controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	ds, err := c.dsLister.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("unable to retrieve ds %v from store: %w", key, err)
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("couldn't get list of nodes when syncing daemon set %s: %w", key, err)
	}
	if ds.Spec.Selector == nil || reflect.DeepEqual(*ds.Spec.Selector, metav1.LabelSelector{}) {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, selectingAllReason, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	// A DaemonSet being deleted may already have lost its revisions to the
	// garbage collector: its status cannot be computed reliably.
	if ds.DeletionTimestamp != nil {
		return nil
	}
	cur, old, err := c.constructHistory(ctx, ds)
	if err != nil {
		return fmt.Errorf("failed to construct revisions of DaemonSet: %w", err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if !c.expectations.Satisfied(key) {
		// Only the status: this generation has not been acted on yet.
		return c.updateStatus(ctx, ds, nodes, hash, false)
	}
	err = c.update(ctx, ds, nodes, hash, key, old)
	statusErr := c.updateStatus(ctx, ds, nodes, hash, true)
	if err != nil {
		if statusErr != nil {
			klog.FromContext(ctx).Error(statusErr, "Failed to update status", "daemonSet", klog.KObj(ds))
		}
		return err
	}
	return statusErr
}

// update places and removes pods, rolls them to the current revision, and trims
// the revision history.
func (c *controller) update(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash, key string, old []*appsv1.ControllerRevision) error {
	if err := c.manage(ctx, ds, nodes, hash); err != nil {
		return err
	}
	if c.expectations.Satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if err := c.rollingUpdate(ctx, ds, nodes, hash); err != nil {
			return err
		}
	}
	if err := c.cleanupHistory(ctx, ds, old); err != nil {
		return fmt.Errorf("failed to clean up revisions of DaemonSet: %w", err)
	}
	return nil
}

// daemonPods returns the pods the DaemonSet controls, adopting matching orphans and
// releasing pods that no longer match.
func (c *controller) daemonPods(ctx context.Context, ds *appsv1.DaemonSet) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	refs := &controllers.RefManager{Owner: ds, GVK: controllerKind, Selector: selector,
		CanAdopt: controllers.RecheckDeletionTimestamp(ds.UID, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		})}
	return refs.ClaimPods(ctx, c.client, pods)
}

// nodesToDaemonPods groups the DaemonSet's pods by the node they run on or are
// pinned to. Terminal pods already being deleted are left out unless asked for.
func (c *controller) nodesToDaemonPods(ctx context.Context, ds *appsv1.DaemonSet, includeDeletedTerminal bool) (map[string][]*corev1.Pod, error) {
	pods, err := c.daemonPods(ctx, ds)
	if err != nil {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, pod := range pods {
		terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
		if !includeDeletedTerminal && terminal && pod.DeletionTimestamp != nil {
			continue
		}
		node, err := targetNodeName(pod)
		if err != nil {
			klog.FromContext(ctx).V(4).Info("Failed to get target node name of Pod in DaemonSet", "pod", klog.KObj(pod), "daemonset", klog.KObj(ds))
			continue
		}
		out[node] = append(out[node], pod)
	}
	return out, nil
}

// byCreationTimestampAndPhase orders pods scheduled first, then oldest first.
func byCreationTimestampAndPhase(pods []*corev1.Pod) {
	sort.Slice(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
			return a.Spec.NodeName != ""
		}
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}
