// Package tainteviction is upstream's taint eviction controller (the taint
// manager): it deletes the pods of a node with NoExecute taints that they do not
// tolerate, at once, or after the shortest tolerationSeconds of the tolerations
// they use, counted from when the controller first saw the taint. Before the delete
// the pod gets the DisruptionTarget condition (reason DeletionByTaintManager), and
// TaintManagerEviction events say when a deletion is scheduled or cancelled.
//
// Upstream runs timed workers per pod; here a pod's key goes back on the work
// queue with AddAfter until its time comes, and the eviction it was scheduled for
// is remembered so that a later taint does not postpone it.
package tainteviction

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Controller evicts pods from NoExecute-tainted nodes.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	pods     corelisters.PodLister
	podInf   cache.SharedIndexInformer
	nodes    corelisters.NodeLister
	queue    controllers.Queue
	synced   []cache.InformerSynced
	now      func() time.Time

	mu sync.Mutex
	// scheduled holds, per pod key, when its eviction was first scheduled.
	scheduled map[string]time.Time
}

// Start registers the informers and launches the workers.
func Start(ctx context.Context, c *controllers.Context) error {
	tc, err := New(c)
	if err != nil {
		return err
	}
	c.Go(func() {
		controllers.RunWorkers(ctx, "taint-eviction-controller", tc.queue, 4, tc.sync, tc.synced...)
	})
	return nil
}

// New builds the controller on c's shared informers.
func New(c *controllers.Context) (*Controller, error) {
	pods := c.Informers.Core().V1().Pods()
	nodes := c.Informers.Core().V1().Nodes()
	if err := controllers.AddPodNodeNameIndex(pods.Informer()); err != nil {
		return nil, err
	}
	tc := &Controller{
		client:    c.Client,
		recorder:  c.Recorder("taint-eviction-controller"),
		pods:      pods.Lister(),
		podInf:    pods.Informer(),
		nodes:     nodes.Lister(),
		queue:     controllers.NewQueue("noexec_taint_pod"),
		synced:    []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		now:       time.Now,
		scheduled: map[string]time.Time{},
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { controllers.Enqueue(tc.queue, obj) },
		UpdateFunc: func(old, obj interface{}) {
			o, p := old.(*corev1.Pod), obj.(*corev1.Pod)
			if o.Spec.NodeName != p.Spec.NodeName || !apiequality.Semantic.DeepEqual(o.Spec.Tolerations, p.Spec.Tolerations) {
				controllers.Enqueue(tc.queue, obj)
			}
		},
		DeleteFunc: func(obj interface{}) { controllers.Enqueue(tc.queue, obj) },
	}); err != nil {
		return nil, err
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { tc.nodeUpdated(nil, obj.(*corev1.Node)) },
		UpdateFunc: func(old, obj interface{}) {
			tc.nodeUpdated(old.(*corev1.Node), obj.(*corev1.Node))
		},
	}); err != nil {
		return nil, err
	}
	return tc, nil
}

// nodeUpdated queues the pods of a node whose NoExecute taints changed.
func (tc *Controller) nodeUpdated(old, node *corev1.Node) {
	taints := noExecuteTaints(node.Spec.Taints)
	if old != nil && apiequality.Semantic.DeepEqual(noExecuteTaints(old.Spec.Taints), taints) {
		return
	}
	if old == nil && len(taints) == 0 {
		return
	}
	pods, err := controllers.PodsOnNode(tc.podInf, node.Name)
	if err != nil {
		return
	}
	for _, p := range pods {
		controllers.Enqueue(tc.queue, p)
	}
}

func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// matchingTolerations reports whether every taint is tolerated, and the
// tolerations that tolerate them.
func matchingTolerations(taints []corev1.Taint, tolerations []corev1.Toleration) (bool, []corev1.Toleration) {
	var used []corev1.Toleration
	for i := range taints {
		tolerated := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(klog.Background(), &taints[i], false) {
				used = append(used, tolerations[j])
				tolerated = true
			}
		}
		if !tolerated {
			return false, nil
		}
	}
	return true, used
}

// minTolerationTime is the shortest tolerationSeconds of tolerations, or -1 when
// they all tolerate forever.
func minTolerationTime(tolerations []corev1.Toleration) time.Duration {
	if len(tolerations) == 0 {
		return 0
	}
	min := int64(math.MaxInt64)
	for _, t := range tolerations {
		if t.TolerationSeconds != nil {
			if *t.TolerationSeconds <= 0 {
				return 0
			}
			if *t.TolerationSeconds < min {
				min = *t.TolerationSeconds
			}
		}
	}
	if min == math.MaxInt64 {
		return -1
	}
	return time.Duration(min) * time.Second
}

func (tc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := tc.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		tc.cancel(ns, name, false)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		tc.cancel(ns, name, pod.DeletionTimestamp == nil)
		return nil
	}
	node, err := tc.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		tc.cancel(ns, name, true)
		return nil
	}
	if err != nil {
		return err
	}
	taints := noExecuteTaints(node.Spec.Taints)
	if len(taints) == 0 {
		tc.cancel(ns, name, true)
		return nil
	}
	now := tc.now()
	allTolerated, used := matchingTolerations(taints, pod.Spec.Tolerations)
	fireAt := now
	if allTolerated {
		wait := minTolerationTime(used)
		if wait < 0 {
			klog.FromContext(ctx).V(4).Info("Current tolerations for pod tolerate forever, cancelling any scheduled deletion", "pod", key)
			tc.cancel(ns, name, true)
			return nil
		}
		tc.mu.Lock()
		start, ok := tc.scheduled[key]
		if !ok {
			start = now
			tc.scheduled[key] = start
		}
		tc.mu.Unlock()
		fireAt = start.Add(wait)
	}
	if d := fireAt.Sub(now); d > 0 {
		tc.queue.AddAfter(key, d)
		return nil
	}
	tc.recorder.Eventf(podRef(ns, name), corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", ns, name)
	if err := tc.addConditionAndDeletePod(ctx, ns, name); err != nil {
		return fmt.Errorf("evict pod %s: %w", key, err)
	}
	klog.FromContext(ctx).Info("Deleted pod from a NoExecute-tainted node", "pod", key, "node", node.Name)
	tc.mu.Lock()
	delete(tc.scheduled, key)
	tc.mu.Unlock()
	return nil
}

// cancel forgets a pod's scheduled eviction, with an event when one was
// scheduled and the pod is still there to see it.
func (tc *Controller) cancel(ns, name string, event bool) {
	key := ns + "/" + name
	tc.mu.Lock()
	_, ok := tc.scheduled[key]
	delete(tc.scheduled, key)
	tc.mu.Unlock()
	if ok && event {
		tc.recorder.Eventf(podRef(ns, name), corev1.EventTypeNormal, "TaintManagerEviction", "Cancelling deletion of Pod %s/%s", ns, name)
	}
}

func podRef(ns, name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name}
}

// addConditionAndDeletePod sets DisruptionTarget on the pod, then deletes it.
func (tc *Controller) addConditionAndDeletePod(ctx context.Context, ns, name string) error {
	pod, err := tc.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if setDisruptionTarget(&pod.Status) {
		if _, err := tc.client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
	}
	err = tc.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func setDisruptionTarget(status *corev1.PodStatus) bool {
	want := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint",
		LastTransitionTime: metav1.Now()}
	for i, c := range status.Conditions {
		if c.Type != corev1.DisruptionTarget {
			continue
		}
		if c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message {
			return false
		}
		if c.Status == want.Status {
			want.LastTransitionTime = c.LastTransitionTime
		}
		status.Conditions[i] = want
		return true
	}
	status.Conditions = append(status.Conditions, want)
	return true
}
