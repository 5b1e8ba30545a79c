// Package endpointslicemirroring is the EndpointSlice mirroring controller: the
// Endpoints of a Service without a selector, written by hand or by another
// controller, are mirrored into EndpointSlices (managed-by
// endpointslicemirroring-controller.k8s.io, owned by the Endpoints), so that
// consumers that read only slices see them, as upstream's mirroring controller does.
// Endpoints labelled endpointslice.kubernetes.io/skip-mirror=true (such as the
// apiserver's default/kubernetes), leader-election records, and Endpoints of
// selector Services are not mirrored.
package endpointslicemirroring

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/endpointslice"
	endpointsliceutil "k8s.io/endpointslice/util"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

const (
	// Name is the controller's name in the manager.
	Name = "endpointslicemirroring"
	// ControllerName is the managed-by label value of mirrored slices.
	ControllerName = "endpointslicemirroring-controller.k8s.io"
	// maxEndpointsPerSubset is upstream's --mirroring-max-endpoints-per-subset
	// default: each subset maps to one slice of at most this many endpoints.
	maxEndpointsPerSubset = 1000
	// workers is upstream's --mirroring-concurrent-service-endpoint-syncs default.
	workers = 5
)

type controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	queue    controllers.Queue

	services  corelisters.ServiceLister
	endpoints corelisters.EndpointsLister
	slices    discoverylisters.EndpointSliceLister
	synced    []cache.InformerSynced
	tracker   *endpointsliceutil.EndpointSliceTracker
}

// Start registers the controller's informers and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	inf := c.Informers
	e := newController(c.Client, c.Recorder("endpoint-slice-mirroring-controller"), inf.Core().V1().Services().Informer(),
		inf.Core().V1().Endpoints().Informer(), inf.Discovery().V1().EndpointSlices().Informer())
	c.Go(func() { controllers.RunWorkers(ctx, Name, e.queue, workers, e.sync, e.synced...) })
	return nil
}

func newController(client kubernetes.Interface, recorder record.EventRecorder, services, endpoints, slices cache.SharedIndexInformer) *controller {
	e := &controller{
		client:    client,
		recorder:  recorder,
		queue:     controllers.NewQueue(Name),
		services:  corelisters.NewServiceLister(services.GetIndexer()),
		endpoints: corelisters.NewEndpointsLister(endpoints.GetIndexer()),
		slices:    discoverylisters.NewEndpointSliceLister(slices.GetIndexer()),
		synced:    []cache.InformerSynced{services.HasSynced, endpoints.HasSynced, slices.HasSynced},
		tracker:   endpointsliceutil.NewEndpointSliceTracker(),
	}
	// Services and Endpoints share keys: namespace/name.
	handlers := controllers.EnqueueHandler(e.queue)
	_, _ = services.AddEventHandler(handlers)
	_, _ = endpoints.AddEventHandler(handlers)
	onSlice := func(obj interface{}) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[discoveryv1.LabelManagedBy] != ControllerName {
			return
		}
		if key, err := endpointslice.ServiceControllerKey(s); err == nil {
			e.queue.Add(key)
		}
	}
	_, _ = slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok && e.tracker.ShouldSync(s) {
				onSlice(obj)
			}
		},
		UpdateFunc: func(_, cur interface{}) {
			if s, ok := cur.(*discoveryv1.EndpointSlice); ok && e.tracker.ShouldSync(s) {
				onSlice(cur)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok && e.tracker.Has(s) && !e.tracker.HandleDeletion(s) {
				onSlice(obj)
			}
		},
	})
	return e
}

// sync mirrors the Endpoints key, or removes its mirrored slices when it should not
// be mirrored.
func (e *controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	existing, err := e.slices.EndpointSlices(namespace).List(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   ControllerName,
	}.AsSelectorPreValidated())
	if err != nil {
		return err
	}
	ep, err := e.endpoints.Endpoints(namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	mirror := err == nil && shouldMirror(ep)
	if mirror {
		svc, err := e.services.Services(namespace).Get(name)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		// No Service, or one the EndpointSlice controller serves: nothing to mirror.
		mirror = err == nil && svc.Spec.Selector == nil
	}
	if !mirror {
		e.tracker.DeleteService(namespace, name)
		return e.deleteSlices(ctx, namespace, existing)
	}
	if e.tracker.StaleSlices(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}, existing) {
		return fmt.Errorf("EndpointSlice informer cache is out of date for %s", key)
	}
	return e.reconcile(ctx, ep, existing)
}

func (e *controller) deleteSlices(ctx context.Context, namespace string, slices []*discoveryv1.EndpointSlice) error {
	for _, s := range slices {
		err := e.client.DiscoveryV1().EndpointSlices(namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete EndpointSlice %s/%s: %w", namespace, s.Name, err)
		}
		e.tracker.ExpectDeletion(s)
	}
	return nil
}

// shouldMirror is false for Endpoints that opt out and for leader-election records.
func shouldMirror(ep *corev1.Endpoints) bool {
	if ep.Labels[discoveryv1.LabelSkipMirror] == "true" {
		return false
	}
	_, leader := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]
	return !leader
}
