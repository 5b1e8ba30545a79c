// Package resourcequota keeps ResourceQuota status up to date, as upstream's
// resource quota controller does: status.hard mirrors spec.hard, and status.used
// is measured for every tracked resource name of spec.hard — object counts (pods,
// services, configmaps, secrets, persistentvolumeclaims, replicationcontrollers,
// resourcequotas, services.loadbalancers, services.nodeports, and
// count/<resource>.<group> for any resource), pod requests and limits (cpu,
// memory, ephemeral-storage), requested storage, within the quota's scopes
// (Terminating, NotTerminating, BestEffort, NotBestEffort, PriorityClass,
// CrossNamespacePodAffinity). A quota is measured again when objects of its
// namespace change, and every 5 minutes.
//
// The evaluators (pkg/quota/evaluator) are shared with the ResourceQuota admission
// plugin.
package resourcequota

import (
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
	"github.com/skiff-k8s/skiff/pkg/quota/evaluator"
)

const (
	// resyncPeriod measures every quota again (upstream's --resource-quota-sync-period).
	resyncPeriod = 5 * time.Minute
	workers      = 5
)

// Controller is the resource quota controller.
type Controller struct {
	c        *controllers.Context
	ctx      context.Context
	quotas   corelisters.ResourceQuotaLister
	queue    controllers.Queue
	registry quota.Registry
	mapper   *restmapper.DeferredDiscoveryRESTMapper

	// counted are the resources of count/<resource>.<group> quotas watched so far.
	mu      sync.Mutex
	counted map[schema.GroupResource]bool

	// written holds, by quota key, the last status this controller wrote and the
	// resourceVersion of the quota that write replaced.
	writtenMu sync.Mutex
	written   map[string]writtenStatus
}

// writtenStatus is a status written over the quota version replaced.
type writtenStatus struct {
	replaced string
	status   corev1.ResourceQuotaStatus
}

// Start runs the resource quota controller until ctx ends.
func Start(ctx context.Context, c *controllers.Context) error {
	rc, synced, err := newController(ctx, c)
	if err != nil {
		return err
	}
	c.Go(func() { controllers.RunWorkers(ctx, "resourcequota", rc.queue, workers, rc.sync, synced...) })
	return nil
}

// newController builds the controller and registers its event handlers; it
// returns the informers' HasSynced its workers wait for.
func newController(ctx context.Context, c *controllers.Context) (*Controller, []cache.InformerSynced, error) {
	core := c.Informers.Core().V1()
	rc := &Controller{
		c:       c,
		ctx:     ctx,
		quotas:  core.ResourceQuotas().Lister(),
		queue:   controllers.NewQueue("resourcequota"),
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery())),
		counted: map[schema.GroupResource]bool{},
		written: map[string]writtenStatus{},
	}
	pods, services, pvcs := core.Pods(), core.Services(), core.PersistentVolumeClaims()
	cms, secrets, rcs, rqs := core.ConfigMaps(), core.Secrets(), core.ReplicationControllers(), core.ResourceQuotas()
	rc.registry = generic.NewRegistry(evaluator.NewEvaluators(evaluator.Listers{
		Pods: listOf(func(ns string) ([]*corev1.Pod, error) { return pods.Lister().Pods(ns).List(labels.Everything()) }),
		Services: listOf(func(ns string) ([]*corev1.Service, error) {
			return services.Lister().Services(ns).List(labels.Everything())
		}),
		PersistentVolumeClaims: listOf(func(ns string) ([]*corev1.PersistentVolumeClaim, error) {
			return pvcs.Lister().PersistentVolumeClaims(ns).List(labels.Everything())
		}),
		ConfigMaps: listOf(func(ns string) ([]*corev1.ConfigMap, error) {
			return cms.Lister().ConfigMaps(ns).List(labels.Everything())
		}),
		Secrets: listOf(func(ns string) ([]*corev1.Secret, error) {
			return secrets.Lister().Secrets(ns).List(labels.Everything())
		}),
		ReplicationControllers: listOf(func(ns string) ([]*corev1.ReplicationController, error) {
			return rcs.Lister().ReplicationControllers(ns).List(labels.Everything())
		}),
		ResourceQuotas: listOf(func(ns string) ([]*corev1.ResourceQuota, error) {
			return rqs.Lister().ResourceQuotas(ns).List(labels.Everything())
		}),
	}))
	for _, gr := range []schema.GroupResource{corev1.Resource("pods"), corev1.Resource("services"), corev1.Resource("persistentvolumeclaims"),
		corev1.Resource("configmaps"), corev1.Resource("secrets"), corev1.Resource("replicationcontrollers"), corev1.Resource("resourcequotas")} {
		rc.counted[gr] = true
	}

	if _, err := rqs.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { controllers.Enqueue(rc.queue, obj); rc.enqueueNamespace(obj) },
		UpdateFunc: func(old, cur interface{}) {
			o, n := old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)
			// A resync (same object) or a spec not yet reflected in status.
			if o.ResourceVersion == n.ResourceVersion || !apiequality.Semantic.DeepEqual(o.Spec, n.Spec) ||
				!apiequality.Semantic.DeepEqual(n.Spec.Hard, n.Status.Hard) {
				controllers.Enqueue(rc.queue, cur)
			}
		},
		DeleteFunc: rc.enqueueNamespace,
	}, resyncPeriod); err != nil {
		return nil, nil, err
	}
	changes := func(relevant func(old, cur interface{}) bool) cache.ResourceEventHandler {
		return cache.ResourceEventHandlerFuncs{
			AddFunc: rc.enqueueNamespace,
			UpdateFunc: func(old, cur interface{}) {
				if relevant != nil && relevant(old, cur) {
					rc.enqueueNamespace(cur)
				}
			},
			DeleteFunc: rc.enqueueNamespace,
		}
	}
	synced := []cache.InformerSynced{rqs.Informer().HasSynced}
	for inf, relevant := range map[cache.SharedIndexInformer]func(old, cur interface{}) bool{
		pods.Informer(): podChanged,
		services.Informer(): func(old, cur interface{}) bool {
			return !apiequality.Semantic.DeepEqual(old.(*corev1.Service).Spec, cur.(*corev1.Service).Spec)
		},
		pvcs.Informer(): func(old, cur interface{}) bool {
			return !apiequality.Semantic.DeepEqual(old.(*corev1.PersistentVolumeClaim).Spec, cur.(*corev1.PersistentVolumeClaim).Spec)
		},
		cms.Informer():     nil,
		secrets.Informer(): nil,
		rcs.Informer():     nil,
	} {
		if _, err := inf.AddEventHandler(changes(relevant)); err != nil {
			return nil, nil, err
		}
		synced = append(synced, inf.HasSynced)
	}
	return rc, synced, nil
}

// podChanged reports the pod changes that move quota usage: it finishing, being
// deleted, or its resources resized.
func podChanged(old, cur interface{}) bool {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	return o.Status.Phase != n.Status.Phase || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
		!apiequality.Semantic.DeepEqual(o.Spec.Containers, n.Spec.Containers)
}

// listOf adapts a typed namespace lister to the evaluators' list function.
func listOf[T runtime.Object](list func(ns string) ([]T, error)) generic.ListFuncByNamespace {
	return func(ns string) ([]runtime.Object, error) {
		items, err := list(ns)
		if err != nil {
			return nil, err
		}
		out := make([]runtime.Object, len(items))
		for i := range items {
			out[i] = items[i]
		}
		return out, nil
	}
}

// enqueueNamespace queues every quota of obj's namespace.
func (rc *Controller) enqueueNamespace(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil || m.GetNamespace() == "" {
		return
	}
	qs, err := rc.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range qs {
		controllers.Enqueue(rc.queue, q)
	}
}

// sync measures one quota and writes its status when it changed.
func (rc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	rq, err := rc.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		rc.writtenMu.Lock()
		delete(rc.written, key)
		rc.writtenMu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	if err := rc.watchCounted(ctx, rq.Spec.Hard); err != nil {
		errs = append(errs, err)
	}
	status := rc.lastStatus(key, rq)
	dirty := !apiequality.Semantic.DeepEqual(rq.Spec.Hard, status.Hard) || status.Hard == nil || status.Used == nil
	used := quota.Add(corev1.ResourceList{}, status.Used)
	hard := quota.Add(corev1.ResourceList{}, rq.Spec.Hard)
	usage, err := quota.CalculateUsage(rq.Namespace, rq.Spec.Scopes, hard, rc.registry, rq.Spec.ScopeSelector)
	if err != nil {
		errs = append(errs, err)
	}
	for k, v := range usage {
		used[k] = v
	}
	used = quota.Mask(used, quota.ResourceNames(hard))
	dirty = dirty || !quota.Equals(used, status.Used)
	if dirty {
		out := rq.DeepCopy()
		out.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: used}
		if _, err := rc.c.Client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, err)
		} else {
			rc.writtenMu.Lock()
			rc.written[key] = writtenStatus{replaced: rq.ResourceVersion, status: out.Status}
			rc.writtenMu.Unlock()
		}
	}
	return utilerrors.NewAggregate(errs)
}

// lastStatus is the status to measure rq against: the one this controller last
// wrote while the informer still shows the version that write replaced, else
// rq's own.
//
// A sync writes only a usage that differs from the status it compares with. A
// sync whose listers lagged (a count that missed an object just created, after
// the admission plugin had charged it) writes a usage too low; the event of the
// missing object then queues the quota again, and if the informer had not yet
// delivered that write, comparing with the status it shows (the charged, right
// one) would find nothing to write, leaving the low usage until the next change
// in the namespace or the 5-minute resync. Comparing with what was written
// writes the right usage (over the old version: a conflict, retried once the
// informer caught up).
func (rc *Controller) lastStatus(key string, rq *corev1.ResourceQuota) corev1.ResourceQuotaStatus {
	rc.writtenMu.Lock()
	defer rc.writtenMu.Unlock()
	w, ok := rc.written[key]
	if !ok {
		return rq.Status
	}
	if w.replaced == rq.ResourceVersion {
		return w.status
	}
	delete(rc.written, key)
	return rq.Status
}

// watchCounted makes sure every count/<resource>.<group> of hard has an evaluator:
// a metadata informer of that resource, shared with the other controllers.
func (rc *Controller) watchCounted(ctx context.Context, hard corev1.ResourceList) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var errs []error
	started := false
	for name := range hard {
		s, ok := strings.CutPrefix(string(name), "count/")
		if !ok {
			continue
		}
		gr := schema.ParseGroupResource(s)
		if rc.counted[gr] {
			continue
		}
		gvr, err := rc.mapper.ResourceFor(gr.WithVersion(""))
		if err != nil {
			// Not served (yet): upstream leaves such names out of status.used.
			klog.FromContext(ctx).V(2).Info("Cannot count resource of quota", "resource", gr, "err", err)
			continue
		}
		inf := rc.c.MetadataInformers.ForResource(gvr)
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: rc.enqueueNamespace, DeleteFunc: rc.enqueueNamespace,
		}); err != nil {
			errs = append(errs, err)
			continue
		}
		lister := generic.ListerFuncForResourceFunc(func(schema.GroupVersionResource) (informers.GenericInformer, error) { return inf, nil })
		rc.registry.Add(evaluator.NewCountEvaluator(gr, "", generic.ListResourceUsingListerFunc(lister, gvr)))
		rc.counted[gr] = true
		started = true
	}
	if started {
		rc.c.MetadataInformers.Start(rc.ctx.Done())
	}
	return utilerrors.NewAggregate(errs)
}
