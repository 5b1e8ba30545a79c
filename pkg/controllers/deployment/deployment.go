// Package deployment runs Deployments, as upstream's deployment controller does: it
// owns one ReplicaSet per pod template (named <deployment>-<pod-template-hash>,
// annotated with deployment.kubernetes.io/revision, desired-replicas and
// max-replicas), rolls from the old ones to the new one by the RollingUpdate
// (maxSurge, maxUnavailable) or Recreate strategy, scales proportionally while
// paused or mid-rollout, prunes old ReplicaSets beyond revisionHistoryLimit, and
// reports the status and the Available, Progressing and ReplicaFailure conditions
// kubectl rollout, kubectl wait and helm --wait read.
//
// The controller is level-triggered: every sync recomputes what to do from the
// Deployment and its ReplicaSets, so a rollout interrupted by a restart simply
// continues. Pods are the ReplicaSet controller's (pkg/controllers/replicaset).
package deployment

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Workers is how many Deployments are synced at once (upstream's
// --concurrent-deployment-syncs).
const Workers = 5

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Start runs the deployment controller.
func Start(ctx context.Context, c *controllers.Context) error {
	dc, err := newController(c.Client, c.Informers.Apps().V1().Deployments().Informer(),
		c.Informers.Apps().V1().ReplicaSets().Informer(), c.Informers.Core().V1().Pods().Informer(),
		c.Recorder("deployment-controller"))
	if err != nil {
		return err
	}
	c.Go(func() { dc.run(ctx) })
	return nil
}

// controller is the deployment controller.
type controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	// podLister is read only by Recreate, which waits for the old pods to be gone.
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     controllers.Queue
	now       func() time.Time
}

func newController(client kubernetes.Interface, dInf, rsInf, podInf cache.SharedIndexInformer, recorder record.EventRecorder) (*controller, error) {
	dc := &controller{
		client:    client,
		recorder:  recorder,
		dLister:   appslisters.NewDeploymentLister(dInf.GetIndexer()),
		rsLister:  appslisters.NewReplicaSetLister(rsInf.GetIndexer()),
		podLister: corelisters.NewPodLister(podInf.GetIndexer()),
		synced:    []cache.InformerSynced{dInf.HasSynced, rsInf.HasSynced, podInf.HasSynced},
		queue:     controllers.NewQueue("deployment"),
		now:       time.Now,
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{dInf, controllers.EnqueueHandler(dc.queue)},
		{rsInf, dc.replicaSetHandlers().Funcs()},
		{podInf, cache.ResourceEventHandlerFuncs{DeleteFunc: dc.deletePod}},
	}
	for _, x := range handlers {
		if _, err := x.inf.AddEventHandler(x.h); err != nil {
			return nil, fmt.Errorf("deployment: add handler: %w", err)
		}
	}
	return dc, nil
}

func (dc *controller) run(ctx context.Context) {
	controllers.RunWorkers(ctx, "deployment", dc.queue, Workers, dc.sync, dc.synced...)
}

func (dc *controller) enqueue(obj interface{}) { controllers.Enqueue(dc.queue, obj) }

// deploymentFor resolves a controller reference to the Deployment with that UID.
func (dc *controller) deploymentFor(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	return controllers.ResolveControllerRef(ref, controllerKind.Kind, dc.dLister.Deployments(namespace).Get)
}

// deploymentsMatching are the Deployments whose selector matches an orphan
// ReplicaSet: they may adopt it.
func (dc *controller) deploymentsMatching(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	if len(rs.Labels) == 0 {
		return nil
	}
	all, err := dc.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllers.Selecting(all, func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector }, rs.Labels)
}

// replicaSetHandlers wake the Deployment of a ReplicaSet, or those that may adopt
// an orphan. As upstream, a ReplicaSet being deleted is handled as any update.
func (dc *controller) replicaSetHandlers() *controllers.OwnedHandlers[*appsv1.Deployment, *appsv1.ReplicaSet] {
	return &controllers.OwnedHandlers[*appsv1.Deployment, *appsv1.ReplicaSet]{
		Resolve:  dc.deploymentFor,
		Matching: dc.deploymentsMatching,
		Enqueue:  func(d *appsv1.Deployment) { dc.enqueue(d) },
	}
}

// deletePod wakes a Recreate Deployment: it waits for its old pods to be gone.
func (dc *controller) deletePod(obj interface{}) {
	pod, ok := controllers.DeletedObject[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := dc.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := dc.deploymentFor(rs.Namespace, metav1.GetControllerOfNoCopy(rs)); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		dc.enqueue(d)
	}
}

// sync reconciles one Deployment; the order of the cases is upstream's.
func (dc *controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := dc.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	if reflect.DeepEqual(d.Spec.Selector, &metav1.LabelSelector{}) {
		dc.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return dc.updateStatus(ctx, d)
		}
		return nil
	}
	rsList, err := dc.replicaSetsFor(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return dc.syncStatusOnly(ctx, d, rsList)
	}
	if err := dc.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return dc.syncScale(ctx, d, rsList)
	}
	scaling, err := dc.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return dc.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return dc.rolloutRecreate(ctx, d, rsList)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return dc.rolloutRolling(ctx, d, rsList)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}

// replicaSetsFor claims the ReplicaSets of d's namespace: those it controls and
// still selects, plus orphans it selects (adopted); controlled ones it no longer
// selects are released.
func (dc *controller) replicaSetsFor(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := dc.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has invalid label selector: %w", d.Namespace, d.Name, err)
	}
	m := &controllers.RefManager{Owner: d, GVK: controllerKind, Selector: sel,
		CanAdopt: controllers.RecheckDeletionTimestamp(d.UID, func(ctx context.Context) (metav1.Object, error) {
			return dc.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		})}
	return controllers.ClaimAll(ctx, m, all, func(ctx context.Context, ns, name string, p []byte) error {
		_, err := dc.client.AppsV1().ReplicaSets(ns).Patch(ctx, name, types.StrategicMergePatchType, p, metav1.PatchOptions{})
		return err
	})
}

// podsByReplicaSet are d's pods grouped by the UID of the ReplicaSet controlling
// them (Recreate waits for the old ones to be gone).
func (dc *controller) podsByReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := dc.podLister.Pods(d.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	m := make(map[types.UID][]*corev1.Pod, len(rsList))
	for _, rs := range rsList {
		m[rs.UID] = nil
	}
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			continue
		}
		if _, ok := m[ref.UID]; ok {
			m[ref.UID] = append(m[ref.UID], p)
		}
	}
	return m, nil
}

// updateStatus writes d's status and keeps the written object in d, so that a
// later write in the same sync does not conflict with this one.
func (dc *controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	updated, err := dc.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	*d = *updated
	return nil
}

// checkPausedConditions records pausing and resuming in Progressing, so that a
// resumed Deployment is not reported as stuck for the time it was paused.
func (dc *controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == TimedOutReason {
		return nil // lack of progress stays reported
	}
	pausedExists := cond != nil && cond.Reason == PausedDeployReason
	switch {
	case d.Spec.Paused && !pausedExists:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, PausedDeployReason, "Deployment is paused"))
	case !d.Spec.Paused && pausedExists:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ResumedDeployReason, "Deployment is resumed"))
	default:
		return nil
	}
	return dc.updateStatus(ctx, d)
}

// isScalingEvent: an active ReplicaSet was sized for another replica count.
func (dc *controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, oldRSs, err := dc.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range filterActive(append(oldRSs, newRS)) {
		if want, ok := annotatedInt(rs, DesiredReplicasAnnotation); ok && want != desired(d) {
			return true, nil
		}
	}
	return false, nil
}

func logger(ctx context.Context) klog.Logger { return klog.FromContext(ctx) }
