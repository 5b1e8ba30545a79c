// Package statefulset is skiff's StatefulSet controller, after upstream's
// pkg/controller/statefulset: pods named <set>-<ordinal> with stable identity labels
// (statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index), claims from
// volumeClaimTemplates created before their pod and named <template>-<set>-<ordinal>,
// OrderedReady or Parallel pod management, RollingUpdate (highest ordinal first,
// down to the partition, up to maxUnavailable at a time) or OnDelete, and the
// template history in ControllerRevisions that `kubectl rollout history/undo` read.
//
//	controllers.Context → Start → informers (sets, pods, revisions, claims) → queue → sync(key)
package statefulset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Name is the controller's name in the manager and its event source.
const Name = "statefulset-controller"

type controller struct {
	client    kubernetes.Interface
	setLister appslisters.StatefulSetLister
	podLister corelisters.PodLister
	history   controllers.History
	pods      *podControl
	queue     controllers.Queue
}

// Start registers the controller's informers and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	sets := c.Informers.Apps().V1().StatefulSets()
	pods := c.Informers.Core().V1().Pods()
	revs := c.Informers.Apps().V1().ControllerRevisions()
	pvcs := c.Informers.Core().V1().PersistentVolumeClaims()
	ctl := newController(c.Client, sets.Lister(), pods.Lister(), revs.Lister(), pvcs.Lister(), c.Recorder(Name))
	if err := ctl.registerHandlers(sets.Informer(), pods.Informer()); err != nil {
		return err
	}
	synced := []cache.InformerSynced{sets.Informer().HasSynced, pods.Informer().HasSynced,
		revs.Informer().HasSynced, pvcs.Informer().HasSynced}
	c.Go(func() { controllers.RunWorkers(ctx, Name, ctl.queue, 5, ctl.sync, synced...) })
	return nil
}

func newController(client kubernetes.Interface, setLister appslisters.StatefulSetLister, podLister corelisters.PodLister,
	revLister appslisters.ControllerRevisionLister, pvcLister corelisters.PersistentVolumeClaimLister, recorder record.EventRecorder) *controller {
	return &controller{
		client:    client,
		setLister: setLister,
		podLister: podLister,
		history:   controllers.History{Client: client, Lister: revLister},
		pods:      &podControl{client: client, podLister: podLister, pvcLister: pvcLister, recorder: recorder},
		queue:     controllers.NewQueue("statefulset"),
	}
}

func (c *controller) registerHandlers(sets, pods cache.SharedIndexInformer) error {
	if _, err := sets.AddEventHandler(controllers.EnqueueHandler(c.queue)); err != nil {
		return err
	}
	_, err := pods.AddEventHandler(c.podHandlers().Funcs())
	return err
}

func (c *controller) enqueue(obj interface{}) { controllers.Enqueue(c.queue, obj) }

func (c *controller) enqueueAfter(set *appsv1.StatefulSet, d time.Duration) {
	controllers.EnqueueAfter(c.queue, set, d)
}

// resolveControllerRef returns the set ref names, when it is still that set.
func (c *controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	return controllers.ResolveControllerRef(ref, controllerKind.Kind, c.setLister.StatefulSets(namespace).Get)
}

// setsForPod returns the sets whose selector matches an orphan pod.
func (c *controller) setsForPod(pod *corev1.Pod) []*appsv1.StatefulSet {
	sets, err := c.setLister.GetPodStatefulSets(pod)
	if err != nil {
		return nil
	}
	return sets
}

// podHandlers wake the set of a pod, or the sets that may adopt an orphan. As
// upstream, a pod being deleted is not handled as gone before it is: its successor
// takes its name, so the set cannot replace it earlier anyway.
func (c *controller) podHandlers() *controllers.OwnedHandlers[*appsv1.StatefulSet, *corev1.Pod] {
	return &controllers.OwnedHandlers[*appsv1.StatefulSet, *corev1.Pod]{
		Resolve:  c.resolveControllerRef,
		Matching: c.setsForPod,
		Enqueue:  func(set *appsv1.StatefulSet) { c.enqueue(set) },
		// A pod that just became ready turns available minReadySeconds later, with
		// no event to say so.
		Updated: func(set *appsv1.StatefulSet, old, cur *corev1.Pod) {
			if after, ok := controllers.BecameAvailableAfter(old, cur, set.Spec.MinReadySeconds); ok {
				c.enqueueAfter(set, after)
			}
		},
	}
}

// sync reconciles the set named by key.
func (c *controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	set, err := c.setLister.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unable to retrieve StatefulSet %v from store: %w", key, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("error converting StatefulSet %v selector: %w", key, err))
		return nil // retrying cannot fix a bad selector; an update will enqueue the set
	}
	refs := &controllers.RefManager{Owner: set, GVK: controllerKind, Selector: selector,
		CanAdopt: controllers.RecheckDeletionTimestamp(set.UID, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		})}
	revisions, err := c.history.List(set, selector)
	if err != nil {
		return err
	}
	if revisions, err = c.history.Claim(ctx, refs, revisions); err != nil {
		return err
	}
	controllers.SortControllerRevisions(revisions)
	pods, err := c.claimPods(ctx, set, refs)
	if err != nil {
		return err
	}
	status, err := c.updateStatefulSet(ctx, set, pods, revisions)
	if err != nil {
		return err
	}
	if status != nil && set.Spec.MinReadySeconds > 0 && status.AvailableReplicas != int32(replicas(set)) {
		c.enqueueAfter(set, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}

// claimPods returns the set's pods: those it controls, and orphans named after it
// that its selector matches (adopted).
func (c *controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, refs *controllers.RefManager) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var members []*corev1.Pod
	for _, p := range all {
		if isMemberOf(set, p) {
			members = append(members, p)
		}
	}
	return refs.ClaimPods(ctx, c.client, members)
}
