// Package disruption keeps PodDisruptionBudget status up to date, as upstream's
// disruption controller does: currentHealthy (ready pods not being deleted nor
// just evicted), desiredHealthy and expectedPods (from minAvailable or
// maxUnavailable, percentages resolved through the scale of the pods'
// controllers: Deployment, ReplicaSet, ReplicationController, StatefulSet or any
// resource with a scale subresource), disruptionsAllowed, disruptedPods (evictions
// the pods' deletion has not confirmed within two minutes are dropped),
// observedGeneration and the DisruptionAllowed condition (SufficientPods,
// InsufficientPods, SyncFailed). The eviction subresource reads disruptionsAllowed.
package disruption

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery/cached/memory"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// DeletionTimeout is how long an eviction recorded in status.disruptedPods is
// trusted before the pod is counted again (upstream: 2 minutes).
const DeletionTimeout = 2 * time.Minute

const workers = 5

// Controller is the disruption controller.
type Controller struct {
	c           *controllers.Context
	queue       controllers.Queue
	recorder    record.EventRecorder
	pdbs        policylisters.PodDisruptionBudgetLister
	pods        corelisters.PodLister
	rcs         corelisters.ReplicationControllerLister
	rss         appslisters.ReplicaSetLister
	deployments appslisters.DeploymentLister
	sets        appslisters.StatefulSetLister
	mapper      *restmapper.DeferredDiscoveryRESTMapper
	now         func() time.Time
}

// Start runs the disruption controller until ctx ends.
func Start(ctx context.Context, c *controllers.Context) error {
	pdbs, pods := c.Informers.Policy().V1().PodDisruptionBudgets(), c.Informers.Core().V1().Pods()
	rcs, rss := c.Informers.Core().V1().ReplicationControllers(), c.Informers.Apps().V1().ReplicaSets()
	deps, sets := c.Informers.Apps().V1().Deployments(), c.Informers.Apps().V1().StatefulSets()
	dc := &Controller{
		c: c, queue: controllers.NewQueue("disruption"), recorder: c.Recorder("controllermanager"),
		pdbs: pdbs.Lister(), pods: pods.Lister(), rcs: rcs.Lister(), rss: rss.Lister(),
		deployments: deps.Lister(), sets: sets.Lister(),
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery())),
		now:    time.Now,
	}
	if _, err := pdbs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { controllers.Enqueue(dc.queue, obj) },
		UpdateFunc: func(_, obj interface{}) { controllers.Enqueue(dc.queue, obj) },
		DeleteFunc: func(obj interface{}) { controllers.Enqueue(dc.queue, obj) },
	}); err != nil {
		return err
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: dc.enqueueForPod,
		UpdateFunc: func(old, cur interface{}) {
			dc.enqueueForPod(cur)
			if o, n := old.(*corev1.Pod), cur.(*corev1.Pod); !mapsEqual(o.Labels, n.Labels) {
				dc.enqueueForPod(old)
			}
		},
		DeleteFunc: dc.enqueueForPod,
	}); err != nil {
		return err
	}
	synced := []cache.InformerSynced{pdbs.Informer().HasSynced, pods.Informer().HasSynced, rcs.Informer().HasSynced,
		rss.Informer().HasSynced, deps.Informer().HasSynced, sets.Informer().HasSynced}
	c.Go(func() { controllers.RunWorkers(ctx, "disruption", dc.queue, workers, dc.sync, synced...) })
	return nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// enqueueForPod queues the budgets that select the pod.
func (dc *Controller) enqueueForPod(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pdbs, err := dc.pdbs.GetPodPodDisruptionBudgets(pod)
	if err != nil {
		return
	}
	for _, p := range pdbs {
		controllers.Enqueue(dc.queue, p)
	}
}

func (dc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pdb, err := dc.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = dc.trySync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) {
		return err
	}
	// As upstream: a budget that cannot be computed allows no disruption.
	return dc.failSafe(ctx, pdb, err)
}
