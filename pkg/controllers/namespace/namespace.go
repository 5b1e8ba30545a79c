// Package namespace empties Terminating namespaces, as upstream's namespace
// controller does: it deletes every namespaced resource that discovery lists
// (custom resources included) through the metadata client, reports progress in the
// namespace's conditions (NamespaceDeletionDiscoveryFailure,
// NamespaceDeletionGroupVersionParsingFailure, NamespaceDeletionContentFailure,
// NamespaceContentRemaining, NamespaceFinalizersRemaining), and once nothing is
// left removes the kubernetes finalizer through namespaces/finalize, which lets the
// apiserver delete the namespace. While content remains (pods shutting down,
// objects with finalizers) it looks again after an estimate.
package namespace

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

const (
	// resyncPeriod re-examines every namespace, as upstream (5 minutes).
	resyncPeriod = 5 * time.Minute
	workers      = 5
)

// Controller is the namespace controller.
type Controller struct {
	c         *controllers.Context
	lister    corelisters.NamespaceLister
	queue     controllers.Queue
	discovery discovery.CachedDiscoveryInterface
}

// Start runs the namespace controller until ctx ends.
func Start(ctx context.Context, c *controllers.Context) error {
	inf := c.Informers.Core().V1().Namespaces()
	nc := &Controller{
		c:         c,
		lister:    inf.Lister(),
		queue:     controllers.NewQueue("namespace"),
		discovery: memory.NewMemCacheClient(c.Client.Discovery()),
	}
	enqueue := func(obj interface{}) {
		ns, ok := obj.(*corev1.Namespace)
		if ok && ns.DeletionTimestamp != nil {
			controllers.Enqueue(nc.queue, ns)
		}
	}
	if _, err := inf.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
	}, resyncPeriod); err != nil {
		return err
	}
	c.Go(func() { controllers.RunWorkers(ctx, "namespace", nc.queue, workers, nc.sync, inf.Informer().HasSynced) })
	return nil
}

// sync empties and finalizes one Terminating namespace.
func (nc *Controller) sync(ctx context.Context, key string) error {
	ns, err := nc.lister.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = nc.delete(ctx, ns.DeepCopy())
	var remaining *ResourcesRemainingError
	if errors.As(err, &remaining) {
		// Not a failure: look again once the content had time to go.
		nc.queue.AddAfter(key, max(time.Duration(remaining.Estimate/2)*time.Second, time.Second))
		return nil
	}
	return err
}
