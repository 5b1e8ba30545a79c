// Package endpointslice is the EndpointSlice controller: for every Service with a
// selector it keeps EndpointSlices (named <service>-<random>, at most 100 endpoints
// each, labelled kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io) listing
// the selected pods with their ready, serving and terminating conditions, node, zone
// and target reference.
//
// The slice arithmetic is upstream's own reconciler from the published
// k8s.io/endpointslice module; this package is the controller around it: informers,
// the queue, and the decision of which Services to reconcile. Services without a
// selector are left alone: default/kubernetes's slice is the apiserver's.
package endpointslice

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/endpointslice"
	"k8s.io/endpointslice/topologycache"
	endpointsliceutil "k8s.io/endpointslice/util"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

const (
	// Name is the controller's name in the manager.
	Name = "endpointslice"
	// ControllerName is the managed-by label value of the slices this controller owns.
	ControllerName = "endpointslice-controller.k8s.io"
	// maxEndpointsPerSlice is upstream's --max-endpoints-per-slice default.
	maxEndpointsPerSlice = 100
	// workers is upstream's --concurrent-service-endpoint-syncs default.
	workers = 5
	// sliceChangeDelay batches a Service's syncs caused by changes to its own slices,
	// as upstream's endpointSliceChangeMinSyncDelay.
	sliceChangeDelay = time.Second
	// topologyKey is the one key of the topology queue.
	topologyKey = "topology"
)

type controller struct {
	recorder record.EventRecorder
	queue    controllers.Queue
	// topology re-reads the nodes into the topology cache, for topology-aware hints.
	topology controllers.Queue

	services corelisters.ServiceLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced

	reconciler    *endpointslice.Reconciler
	tracker       *endpointsliceutil.EndpointSliceTracker
	triggerTimes  *endpointsliceutil.TriggerTimeTracker
	topologyCache *topologycache.TopologyCache
}

// Start registers the controller's informers and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	inf := c.Informers
	e := newController(c.Client, c.Recorder("endpoint-slice-controller"), inf.Core().V1().Services().Informer(), inf.Core().V1().Pods().Informer(),
		inf.Core().V1().Nodes().Informer(), inf.Discovery().V1().EndpointSlices().Informer())
	c.Go(func() {
		controllers.RunWorkers(ctx, Name, e.queue, workers, e.sync, e.synced...)
	})
	c.Go(func() {
		controllers.RunWorkers(ctx, Name+"-topology", e.topology, 1, e.syncTopology, e.synced...)
	})
	return nil
}

func newController(client kubernetes.Interface, recorder record.EventRecorder, services, pods, nodes, slices cache.SharedIndexInformer) *controller {
	e := &controller{
		recorder:      recorder,
		queue:         controllers.NewQueue(Name),
		topology:      controllers.NewQueue(Name + "_topology"),
		services:      corelisters.NewServiceLister(services.GetIndexer()),
		pods:          corelisters.NewPodLister(pods.GetIndexer()),
		nodes:         corelisters.NewNodeLister(nodes.GetIndexer()),
		slices:        discoverylisters.NewEndpointSliceLister(slices.GetIndexer()),
		synced:        []cache.InformerSynced{services.HasSynced, pods.HasSynced, nodes.HasSynced, slices.HasSynced},
		tracker:       endpointsliceutil.NewEndpointSliceTracker(),
		triggerTimes:  endpointsliceutil.NewTriggerTimeTracker(),
		topologyCache: topologycache.NewTopologyCache(),
	}
	e.reconciler = endpointslice.NewReconciler(client, e.nodes, maxEndpointsPerSlice, e.tracker,
		e.topologyCache, recorder, ControllerName, endpointslice.WithPreferSameTrafficDistributionEnabled(true))

	_, _ = services.AddEventHandler(controllers.EnqueueHandler(e.queue))
	_, _ = pods.AddEventHandler(controllers.PodServicesHandler(e.services, e.queue))
	_, _ = slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    e.onSliceAdd,
		UpdateFunc: e.onSliceUpdate,
		DeleteFunc: e.onSliceDelete,
	})
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { e.topology.Add(topologyKey) },
		UpdateFunc: func(old, cur interface{}) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			// A zone label may be set after the node registers.
			if isNodeReady(o) != isNodeReady(n) || o.Labels[corev1.LabelTopologyZone] != n.Labels[corev1.LabelTopologyZone] {
				e.topology.Add(topologyKey)
			}
		},
		DeleteFunc: func(interface{}) { e.topology.Add(topologyKey) },
	})
	return e
}

// onSliceAdd resyncs the Service of a slice of ours the controller did not write
// (or not at that generation).
func (e *controller) onSliceAdd(obj interface{}) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if ok && e.reconciler.ManagedByController(s) && e.tracker.ShouldSync(s) {
		e.queueServiceOf(s)
	}
}

func (e *controller) onSliceUpdate(old, cur interface{}) {
	prev, ok1 := old.(*discoveryv1.EndpointSlice)
	s, ok2 := cur.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 {
		return
	}
	// A slice moved to another Service by its label: both Services must look again
	// (the label does not bump the generation the tracker follows).
	if prev.Labels[discoveryv1.LabelServiceName] != s.Labels[discoveryv1.LabelServiceName] {
		e.queueServiceOf(s)
		e.queueServiceOf(prev)
		return
	}
	if e.reconciler.ManagedByChanged(prev, s) || (e.reconciler.ManagedByController(s) && e.tracker.ShouldSync(s)) {
		e.queueServiceOf(s)
	}
}

func (e *controller) onSliceDelete(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || !e.reconciler.ManagedByController(s) || !e.tracker.Has(s) {
		return
	}
	// A deletion we did not ask for: put the slice back.
	if !e.tracker.HandleDeletion(s) {
		e.queueServiceOf(s)
	}
}

func (e *controller) queueServiceOf(s *discoveryv1.EndpointSlice) {
	key, err := endpointslice.ServiceControllerKey(s)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("couldn't get key for EndpointSlice %s/%s: %w", s.Namespace, s.Name, err))
		return
	}
	e.queue.AddAfter(key, sliceChangeDelay)
}

// staleCacheError is returned when the slice cache lags this controller's own
// writes; the Service is retried once the informer catches up.
type staleCacheError struct{ service string }

func (s staleCacheError) Error() string {
	return fmt.Sprintf("EndpointSlice informer cache is out of date for service %s", s.service)
}

// sync reconciles the EndpointSlices of the Service key.
func (e *controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	svc, err := e.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The slices go with the Service through their owner reference.
		e.triggerTimes.DeleteService(namespace, name)
		e.reconciler.DeleteService(namespace, name)
		e.tracker.DeleteService(namespace, name)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		// Slices of these Services are written by others (the apiserver for
		// default/kubernetes, users, or the mirroring controller).
		return nil
	}
	pods, err := e.pods.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		e.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToListPods",
			"Error listing Pods for Service %s/%s: %v", namespace, name, err)
		return err
	}
	slices, err := e.slices.EndpointSlices(namespace).List(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   ControllerName,
	}.AsSelectorPreValidated())
	if err != nil {
		e.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToListEndpointSlices",
			"Error listing Endpoint Slices for Service %s/%s: %v", namespace, name, err)
		return err
	}
	// Slices being deleted are no longer ours to fill; waiting on them could stall us.
	live := slices[:0:0]
	for _, s := range slices {
		if s.DeletionTimestamp == nil {
			live = append(live, s)
		}
	}
	if e.tracker.StaleSlices(svc, live) {
		return staleCacheError{service: key}
	}
	triggerTime := e.triggerTimes.ComputeEndpointLastChangeTriggerTime(namespace, svc, pods)
	if err := e.reconciler.Reconcile(logger, svc, pods, live, triggerTime); err != nil {
		e.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
			"Error updating Endpoint Slices for Service %s/%s: %v", namespace, name, err)
		return err
	}
	return nil
}

// syncTopology feeds the nodes to the topology cache and resyncs the Services whose
// hints no longer fit the zones.
func (e *controller) syncTopology(ctx context.Context, _ string) error {
	nodes, err := e.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	e.topologyCache.SetNodes(klog.FromContext(ctx), nodes)
	for _, key := range e.topologyCache.GetOverloadedServices() {
		e.queue.Add(key)
	}
	return nil
}

func isNodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
