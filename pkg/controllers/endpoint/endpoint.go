// Package endpoint is the Endpoints controller: for every Service with a selector it
// keeps an Endpoints object of the same name listing the selected pods, ready ones
// under addresses and the others under notReadyAddresses, each port resolved per pod
// (a named targetPort is looked up in that pod's containers), as upstream's
// endpoints controller does. Services without a selector (such as default/kubernetes,
// whose Endpoints the apiserver keeps) and ExternalName Services are left alone.
//
// It reuses k8s.io/endpointslice's helpers, the same ones upstream uses, for which
// pods belong in endpoints, which services a pod change affects, the hostname rule
// and the last-change-trigger-time annotation.
package endpoint

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	endpointsliceutil "k8s.io/endpointslice/util"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Name is the controller's name in the manager and its work queue.
const Name = "endpoint"

// workers is upstream's --concurrent-endpoint-syncs default.
const workers = 5

// controller keeps the Endpoints of selector Services.
type controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	queue    controllers.Queue

	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced

	triggerTimes *endpointsliceutil.TriggerTimeTracker
}

// Start registers the controller's informers and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	e := newController(c.Client, c.Recorder("endpoint-controller"),
		c.Informers.Core().V1().Services().Informer(), c.Informers.Core().V1().Pods().Informer(),
		c.Informers.Core().V1().Endpoints().Informer())
	c.Go(func() {
		controllers.RunWorkers(ctx, Name, e.queue, workers, e.sync, e.synced...)
	})
	c.Go(func() {
		// Once the caches are in, queue the service of every Endpoints object: those
		// whose Service went away while no controller ran are deleted.
		if controllers.WaitForCacheSync(ctx, Name, e.synced...) {
			e.checkLeftoverEndpoints()
		}
	})
	return nil
}

func newController(client kubernetes.Interface, recorder record.EventRecorder, services, pods, endpoints cache.SharedIndexInformer) *controller {
	e := &controller{
		client:       client,
		recorder:     recorder,
		queue:        controllers.NewQueue(Name),
		services:     corelisters.NewServiceLister(services.GetIndexer()),
		pods:         corelisters.NewPodLister(pods.GetIndexer()),
		endpoints:    corelisters.NewEndpointsLister(endpoints.GetIndexer()),
		synced:       []cache.InformerSynced{services.HasSynced, pods.HasSynced, endpoints.HasSynced},
		triggerTimes: endpointsliceutil.NewTriggerTimeTracker(),
	}
	enqueue := func(obj interface{}) { controllers.Enqueue(e.queue, obj) }
	_, _ = services.AddEventHandler(controllers.EnqueueHandler(e.queue))
	_, _ = pods.AddEventHandler(controllers.PodServicesHandler(e.services, e.queue))
	_, _ = endpoints.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: enqueue})
	return e
}

func (e *controller) checkLeftoverEndpoints() {
	list, err := e.endpoints.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("unable to list endpoints; orphaned endpoints will not be cleaned up: %w", err))
		return
	}
	for _, ep := range list {
		// Leader-election records kept on Endpoints have no Service; deleting them
		// would force a re-election.
		if _, ok := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]; ok {
			continue
		}
		controllers.Enqueue(e.queue, ep)
	}
}

// sync brings the Endpoints of the Service key up to date.
func (e *controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	svc, err := e.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone: so are its Endpoints.
		err = e.client.CoreV1().Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		e.triggerTimes.DeleteService(namespace, name)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		// These get no endpoints from us; a selector-less Service's Endpoints are
		// written by whoever owns it (the apiserver for default/kubernetes).
		return nil
	}
	pods, err := e.pods.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	// Computed on every sync, so the tracker's state follows even a no-op sync.
	triggerTime := e.triggerTimes.ComputeEndpointLastChangeTriggerTime(namespace, svc, pods)
	subsets, ready, notReady := desiredSubsets(logger, svc, pods)

	current, err := e.endpoints.Endpoints(namespace).Get(name)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		current = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: svc.Labels}}
	}
	create := current.ResourceVersion == ""
	compareLabels := current.Labels
	if _, ok := compareLabels[corev1.IsHeadlessService]; ok {
		compareLabels = withoutLabel(compareLabels, corev1.IsHeadlessService)
	}
	if !create && subsetsEqual(current.Subsets, subsets) &&
		apiequality.Semantic.DeepEqual(compareLabels, svc.Labels) &&
		capacityAnnotationSetCorrectly(current.Annotations, current.Subsets) {
		return nil
	}

	desired := current.DeepCopy()
	desired.Subsets = subsets
	desired.Labels = withoutLabel(svc.Labels, corev1.IsHeadlessService)
	if !isServiceIPSet(svc) {
		desired.Labels[corev1.IsHeadlessService] = ""
	}
	if desired.Annotations == nil {
		desired.Annotations = map[string]string{}
	}
	if !triggerTime.IsZero() {
		desired.Annotations[corev1.EndpointsLastChangeTriggerTime] = triggerTime.UTC().Format(time.RFC3339Nano)
	} else {
		delete(desired.Annotations, corev1.EndpointsLastChangeTriggerTime)
	}
	if truncateEndpoints(desired) {
		desired.Annotations[corev1.EndpointsOverCapacity] = truncated
	} else {
		delete(desired.Annotations, corev1.EndpointsOverCapacity)
	}

	logger.V(4).Info("Update endpoints", "service", klog.KObj(svc), "readyEndpoints", ready, "notreadyEndpoints", notReady)
	if create {
		_, err = e.client.CoreV1().Endpoints(namespace).Create(ctx, desired, metav1.CreateOptions{})
	} else {
		_, err = e.client.CoreV1().Endpoints(namespace).Update(ctx, desired, metav1.UpdateOptions{})
	}
	if err != nil {
		// A terminating namespace refuses creates for good: drop the key.
		if create && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		if create {
			e.recorder.Eventf(desired, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %v/%v: %v", namespace, name, err)
		} else {
			e.recorder.Eventf(desired, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %v/%v: %v", namespace, name, err)
		}
		return err
	}
	return nil
}

// withoutLabel copies m without key (never nil).
func withoutLabel(m map[string]string, key string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// isServiceIPSet reports whether the Service has a cluster IP (is not headless).
func isServiceIPSet(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.ClusterIP != ""
}
