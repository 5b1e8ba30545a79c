// Package replicaset runs ReplicaSets and ReplicationControllers, as upstream's
// replicaset and replicationcontroller controllers do: it keeps spec.replicas active
// pods matching the selector, creating them in slow-start batches (1, 2, 4, …) and
// deleting the best-ranked ones, adopts orphans its selector matches and releases
// pods that no longer match, and reports replicas, fullyLabeledReplicas,
// readyReplicas, availableReplicas, terminatingReplicas, observedGeneration and the
// ReplicaFailure condition.
//
// Both kinds run the same code over an apps/v1 ReplicaSet view (see kind.go):
//
//	replicaset.Start(ctx, c)                      // ReplicaSets ("replicaset-controller")
//	replicaset.StartReplicationController(ctx, c) // ReplicationControllers ("replication-controller")
package replicaset

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Workers is how many keys are synced at once (upstream's --concurrent-replicaset-syncs).
const Workers = 5

// Start runs the ReplicaSet controller.
func Start(ctx context.Context, c *controllers.Context) error {
	return start(ctx, c, replicaSetKind(c))
}

// StartReplicationController runs the same controller for ReplicationControllers.
func StartReplicationController(ctx context.Context, c *controllers.Context) error {
	return start(ctx, c, replicationControllerKind(c))
}

func start(ctx context.Context, c *controllers.Context, k *kind) error {
	rc, err := newController(c, k)
	if err != nil {
		return err
	}
	c.Go(func() { rc.run(ctx) })
	return nil
}

// controller is one ReplicaSet (or ReplicationController) controller.
type controller struct {
	kind         *kind
	pc           controllers.PodControl
	podLister    corelisters.PodLister
	podsSynced   cache.InformerSynced
	queue        controllers.Queue
	expectations *controllers.Expectations
	deletions    *deletions
	// burstReplicas caps the pods created or deleted in one sync (upstream: 500).
	burstReplicas int
}

func newController(c *controllers.Context, k *kind) (*controller, error) {
	pods := c.Informers.Core().V1().Pods()
	rc := &controller{
		kind:          k,
		pc:            controllers.PodControl{Client: c.Client, Recorder: c.Recorder(k.source)},
		podLister:     pods.Lister(),
		podsSynced:    pods.Informer().HasSynced,
		queue:         controllers.NewQueue(k.name),
		expectations:  controllers.NewExpectations(),
		deletions:     &deletions{pods: map[string]sets.Set[string]{}},
		burstReplicas: 500,
	}
	if _, err := k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    rc.enqueue,
		UpdateFunc: func(_, cur interface{}) { rc.enqueue(cur) },
		DeleteFunc: rc.deleteOwner,
	}); err != nil {
		return nil, fmt.Errorf("%s: add handler: %w", k.name, err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    rc.addPod,
		UpdateFunc: rc.updatePod,
		DeleteFunc: rc.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("%s: add pod handler: %w", k.name, err)
	}
	return rc, nil
}

func (rc *controller) run(ctx context.Context) {
	controllers.RunWorkers(ctx, rc.kind.name, rc.queue, Workers, rc.sync, rc.kind.informer.HasSynced, rc.podsSynced)
}

func (rc *controller) enqueue(obj interface{}) { controllers.Enqueue(rc.queue, obj) }

func (rc *controller) enqueueAfter(o *owned, after time.Duration) {
	if key, ok := controllers.Key(o.rs); ok {
		rc.queue.AddAfter(key, after)
	}
}

func (rc *controller) deleteOwner(obj interface{}) {
	if key, ok := controllers.Key(obj); ok {
		rc.expectations.Delete(key)
		rc.deletions.forget(key)
		rc.queue.Add(key)
	}
}

// resolveControllerRef returns the owner ref names, if it is of our kind and is
// still the object with that UID.
func (rc *controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *owned {
	if ref == nil || ref.Kind != rc.kind.gvk.Kind || ref.APIVersion != rc.kind.gvk.GroupVersion().String() {
		return nil
	}
	o, err := rc.kind.get(namespace, ref.Name)
	if err != nil || o.rs.UID != ref.UID {
		return nil
	}
	return o
}

// ownersMatching returns the objects whose selector matches an orphan pod.
func (rc *controller) ownersMatching(pod *corev1.Pod) []*owned {
	all, err := rc.kind.list(pod.Namespace)
	if err != nil {
		return nil
	}
	var out []*owned
	for _, o := range all {
		sel, err := metav1.LabelSelectorAsSelector(o.rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, o)
	}
	return out
}

func (rc *controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// A pod that shows up already being deleted (after a relist) counts as deleted.
		rc.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		o := rc.resolveControllerRef(pod.Namespace, ref)
		if o == nil {
			return
		}
		key, _ := controllers.Key(o.rs)
		rc.expectations.CreationObserved(key)
		rc.queue.Add(key)
		return
	}
	// An orphan: wake every owner that might adopt it.
	for _, o := range rc.ownersMatching(pod) {
		rc.enqueue(o.rs)
	}
}

func (rc *controller) updatePod(old, cur interface{}) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if curPod.ResourceVersion == oldPod.ResourceVersion {
		return // a resync
	}
	labelChanged := !reflect.DeepEqual(curPod.Labels, oldPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// The kubelet may take a while to remove it: count the deletion now so that
		// the owner can replace it, as upstream does.
		rc.deletePod(curPod)
		if labelChanged {
			rc.deletePod(oldPod)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if o := rc.resolveControllerRef(oldPod.Namespace, oldRef); o != nil {
			rc.enqueue(o.rs)
		}
	}
	if curRef != nil {
		o := rc.resolveControllerRef(curPod.Namespace, curRef)
		if o == nil {
			return
		}
		rc.enqueue(o.rs)
		// Availability comes minReadySeconds after readiness, with no pod event of its
		// own: look again then.
		if !controllers.IsPodReady(oldPod) && controllers.IsPodReady(curPod) && o.rs.Spec.MinReadySeconds > 0 {
			rc.enqueueAfter(o, time.Duration(o.rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelChanged || refChanged {
		for _, o := range rc.ownersMatching(curPod) {
			rc.enqueue(o.rs)
		}
	}
}

func (rc *controller) deletePod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	o := rc.resolveControllerRef(pod.Namespace, ref)
	if o == nil {
		return
	}
	key, _ := controllers.Key(o.rs)
	if rc.deletions.observed(key, pod.Namespace+"/"+pod.Name) {
		rc.expectations.DeletionObserved(key)
	}
	rc.queue.Add(key)
}

// deletions remembers which pods an owner is waiting to see deleted, so that a pod
// seen twice (first with a deletionTimestamp, then gone) lowers the owner's
// expectations once, as upstream's UID-tracking expectations do.
type deletions struct {
	mu   sync.Mutex
	pods map[string]sets.Set[string]
}

func (d *deletions) expect(key string, podKeys []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pods[key] = sets.New(podKeys...)
}

// observed reports whether podKey was expected for key, and forgets it.
func (d *deletions) observed(key, podKey string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.pods[key].Has(podKey) {
		return false
	}
	d.pods[key].Delete(podKey)
	return true
}

func (d *deletions) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.pods, key)
}
