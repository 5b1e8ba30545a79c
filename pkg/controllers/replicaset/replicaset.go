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
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	if _, err := pods.Informer().AddEventHandler(rc.podHandlers().Funcs()); err != nil {
		return nil, fmt.Errorf("%s: add pod handler: %w", k.name, err)
	}
	return rc, nil
}

func (rc *controller) run(ctx context.Context) {
	controllers.RunWorkers(ctx, rc.kind.name, rc.queue, Workers, rc.sync, rc.kind.informer.HasSynced, rc.podsSynced)
}

func (rc *controller) enqueue(obj interface{}) { controllers.Enqueue(rc.queue, obj) }

func (rc *controller) enqueueAfter(o *owned, after time.Duration) {
	controllers.EnqueueAfter(rc.queue, o.rs, after)
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
	return controllers.Selecting(all, func(o *owned) *metav1.LabelSelector { return o.rs.Spec.Selector }, pod.Labels)
}

// podHandlers wake the owner of a pod, or the owners that may adopt an orphan, and
// count the creations and deletions the owner expects.
func (rc *controller) podHandlers() *controllers.OwnedHandlers[*owned, *corev1.Pod] {
	return &controllers.OwnedHandlers[*owned, *corev1.Pod]{
		Resolve:  rc.resolveControllerRef,
		Matching: rc.ownersMatching,
		Enqueue:  func(o *owned) { rc.enqueue(o.rs) },
		Created: func(o *owned, _ *corev1.Pod) {
			key, _ := controllers.Key(o.rs)
			rc.expectations.CreationObserved(key)
		},
		// A pod seen twice (with a deletionTimestamp, then gone) lowers the
		// expectations once.
		Deleted: func(o *owned, pod *corev1.Pod) {
			key, _ := controllers.Key(o.rs)
			if rc.deletions.observed(key, pod.Namespace+"/"+pod.Name) {
				rc.expectations.DeletionObserved(key)
			}
		},
		// Availability comes minReadySeconds after readiness, with no pod event of its
		// own: look again then.
		Updated: func(o *owned, old, cur *corev1.Pod) {
			if after, ok := controllers.BecameAvailableAfter(old, cur, o.rs.Spec.MinReadySeconds); ok {
				rc.enqueueAfter(o, after)
			}
		},
		// The kubelet may take a while to remove a pod being deleted: count the
		// deletion now so that the owner can replace it, as upstream does.
		DeleteOnTerminating: true,
		DeleteOldOnRelabel:  true,
	}
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
