// Package nodelifecycle is the node lifecycle controller, as upstream's: it watches
// each node's heartbeat (its Lease in kube-node-lease and its Ready condition) and,
// when neither has been renewed for the grace period (40s), posts Ready=Unknown and
// the other kubelet conditions Unknown ("Kubelet stopped posting node status.").
// It keeps the taints that mirror a node's state in step with it:
// node.kubernetes.io/not-ready and /unreachable (NoExecute and NoSchedule), the
// pressure and network-unavailable NoSchedule taints, and
// node.kubernetes.io/unschedulable:NoSchedule for spec.unschedulable (kubectl
// cordon); and it marks the pods of a node that stopped being Ready not Ready.
//
// The eviction of pods from NoExecute-tainted nodes is the taint eviction
// controller's (package tainteviction). Upstream's per-zone rate limits on tainting
// are left out; its full-disruption rule is kept: when no node at all is Ready, the
// control plane is more likely cut off than every node dead, so no NoExecute taint
// is added and those present are removed.
package nodelifecycle

import (
	"context"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Upstream's defaults (--node-monitor-period, --node-monitor-grace-period and the
// startup grace period of a node that never posted status).
const (
	NodeMonitorPeriod      = 5 * time.Second
	NodeMonitorGracePeriod = 40 * time.Second
	NodeStartupGracePeriod = 60 * time.Second
)

// Controller is the node lifecycle controller.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	nodes    corelisters.NodeLister
	leases   coordlisters.LeaseLister
	pods     corelisters.PodLister
	podInf   cache.SharedIndexInformer
	synced   []cache.InformerSynced

	// nodeQueue drives the NoSchedule taints and label reconciliation of a node;
	// podQueue marks pods newly bound to a not-ready node not ready.
	nodeQueue controllers.Queue
	podQueue  controllers.Queue

	now          func() metav1.Time
	gracePeriod  time.Duration
	startupGrace time.Duration

	mu     sync.Mutex
	health map[string]*nodeHealth
	known  map[string]types.UID // nodes seen, for RegisteredNode and RemovingNode
	retry  map[string]bool      // nodes whose pods could not all be marked not ready
}

// nodeHealth is what the controller last saw of a node, with the local time it
// saw it: the controller trusts its own clock, not the kubelet's timestamps.
type nodeHealth struct {
	probeTimestamp metav1.Time
	status         *corev1.NodeStatus
	lease          *coordv1.Lease
}

// Start registers the controller's informers and launches its loops.
func Start(ctx context.Context, c *controllers.Context) error {
	nc, err := New(c)
	if err != nil {
		return err
	}
	c.Go(func() { nc.Run(ctx) })
	return nil
}

// New builds the controller on c's shared informers.
func New(c *controllers.Context) (*Controller, error) {
	nodes := c.Informers.Core().V1().Nodes()
	leases := c.Informers.Coordination().V1().Leases()
	pods := c.Informers.Core().V1().Pods()
	if err := controllers.AddPodNodeNameIndex(pods.Informer()); err != nil {
		return nil, err
	}
	nc := &Controller{
		client:       c.Client,
		recorder:     c.Recorder("node-controller"),
		nodes:        nodes.Lister(),
		leases:       leases.Lister(),
		pods:         pods.Lister(),
		podInf:       pods.Informer(),
		synced:       []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced, pods.Informer().HasSynced},
		nodeQueue:    controllers.NewQueue("node_lifecycle_controller"),
		podQueue:     controllers.NewQueue("node_lifecycle_controller_pods"),
		now:          metav1.Now,
		gracePeriod:  NodeMonitorGracePeriod,
		startupGrace: NodeStartupGracePeriod,
		health:       map[string]*nodeHealth{},
		known:        map[string]types.UID{},
		retry:        map[string]bool{},
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { controllers.Enqueue(nc.nodeQueue, obj) },
		UpdateFunc: func(_, obj interface{}) { controllers.Enqueue(nc.nodeQueue, obj) },
	}); err != nil {
		return nil, err
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { nc.podUpdated(nil, obj.(*corev1.Pod)) },
		UpdateFunc: func(old, obj interface{}) {
			nc.podUpdated(old.(*corev1.Pod), obj.(*corev1.Pod))
		},
	}); err != nil {
		return nil, err
	}
	return nc, nil
}

// Run runs the workers and the health monitor until ctx is done.
func (nc *Controller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		controllers.RunWorkers(ctx, "node-lifecycle-nodes", nc.nodeQueue, 2, nc.syncNode, nc.synced...)
	}()
	go func() {
		defer wg.Done()
		controllers.RunWorkers(ctx, "node-lifecycle-pods", nc.podQueue, 2, nc.syncPod, nc.synced...)
	}()
	if controllers.WaitForCacheSync(ctx, "node-lifecycle", nc.synced...) {
		wait.UntilWithContext(ctx, nc.monitorNodeHealth, NodeMonitorPeriod)
	}
	wg.Wait()
}

func (nc *Controller) podUpdated(old, pod *corev1.Pod) {
	if pod.Spec.NodeName != "" && (old == nil || old.Spec.NodeName != pod.Spec.NodeName) {
		controllers.Enqueue(nc.podQueue, pod)
	}
}
