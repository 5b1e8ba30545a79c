// Package nodeipam is the node IPAM controller: it gives every node a podCIDR out
// of --cluster-cidr (a /24 each by default), as upstream's range allocator does.
// Nodes that already have one keep it (the allocation bitmap is rebuilt from the
// nodes when the controller starts), and a deleted node's podCIDR is released.
// When the cluster CIDR is full the node gets a CIDRNotAvailable event and is
// retried with backoff.
package nodeipam

import (
	"context"
	"fmt"
	"net"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	nodeutil "k8s.io/component-helpers/node/util"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Start runs the allocator over c.ClusterCIDR, split into /c.NodeCIDRMaskSize.
func Start(ctx context.Context, c *controllers.Context) error {
	if c.ClusterCIDR == nil {
		klog.FromContext(ctx).Info("No cluster CIDR: node podCIDRs are not allocated")
		return nil
	}
	mask := c.NodeCIDRMaskSize
	if mask == 0 {
		mask = 24
	}
	set, err := newCIDRSet(c.ClusterCIDR, mask)
	if err != nil {
		return fmt.Errorf("node ipam: %w", err)
	}
	nodes := c.Informers.Core().V1().Nodes()
	a := &allocator{
		set:      set,
		nodes:    nodes.Lister(),
		queue:    controllers.NewQueue("nodeipam"),
		recorder: c.Recorder("cidrAllocator"),
		assigned: map[string]string{},
		patch: func(ctx context.Context, node string, cidrs []string) error {
			return nodeutil.PatchNodeCIDRs(ctx, c.Client, types.NodeName(node), cidrs)
		},
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { controllers.Enqueue(a.queue, obj) },
		UpdateFunc: func(_, obj interface{}) { controllers.Enqueue(a.queue, obj) },
		DeleteFunc: a.nodeDeleted,
	}); err != nil {
		return err
	}
	c.Go(func() {
		controllers.RunWorkers(ctx, "nodeipam", a.queue, 1, a.sync, nodes.Informer().HasSynced)
	})
	return nil
}

// allocator is upstream's range allocator on a work queue.
type allocator struct {
	set      *cidrSet
	nodes    corelisters.NodeLister
	queue    controllers.Queue
	recorder record.EventRecorder
	patch    func(ctx context.Context, node string, cidrs []string) error

	once sync.Once
	mu   sync.Mutex
	// assigned remembers the podCIDR written to a node until the informer shows
	// it, so that a stale cache never makes the allocator give a node two.
	assigned map[string]string
}

// occupyExisting marks every node's podCIDRs as used, before the first allocation.
func (a *allocator) occupyExisting(ctx context.Context) {
	nodes, err := a.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		a.occupy(ctx, n)
	}
}

func (a *allocator) occupy(ctx context.Context, node *corev1.Node) {
	for _, s := range node.Spec.PodCIDRs {
		_, cidr, err := net.ParseCIDR(s)
		if err == nil {
			err = a.set.occupy(cidr)
		}
		if err != nil {
			klog.FromContext(ctx).Info("Node podCIDR not in the cluster CIDR", "node", node.Name, "podCIDR", s, "err", err)
		}
	}
}

func (a *allocator) nodeDeleted(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	a.mu.Lock()
	cidrs := node.Spec.PodCIDRs
	if s, ok := a.assigned[node.Name]; ok && len(cidrs) == 0 {
		cidrs = []string{s}
	}
	delete(a.assigned, node.Name)
	a.mu.Unlock()
	for _, s := range cidrs {
		if _, cidr, err := net.ParseCIDR(s); err == nil {
			_ = a.set.release(cidr)
		}
	}
}

func (a *allocator) sync(ctx context.Context, name string) error {
	a.once.Do(func() { a.occupyExisting(ctx) })
	node, err := a.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(node.Spec.PodCIDRs) > 0 {
		a.mu.Lock()
		delete(a.assigned, name)
		a.mu.Unlock()
		a.occupy(ctx, node)
		return nil
	}
	a.mu.Lock()
	_, pending := a.assigned[name]
	a.mu.Unlock()
	if pending {
		return nil
	}
	cidr, err := a.set.allocate()
	if err != nil {
		controllers.RecordNodeStatusChange(a.recorder, node, "CIDRNotAvailable")
		return fmt.Errorf("failed to allocate cidr from cluster cidr: %w", err)
	}
	if err := a.patch(ctx, name, []string{cidr.String()}); err != nil {
		_ = a.set.release(cidr)
		if apierrors.IsNotFound(err) {
			return nil
		}
		controllers.RecordNodeStatusChange(a.recorder, node, "CIDRAssignmentFailed")
		return fmt.Errorf("failed to patch node %s with podCIDR %s: %w", name, cidr, err)
	}
	a.mu.Lock()
	a.assigned[name] = cidr.String()
	a.mu.Unlock()
	klog.FromContext(ctx).V(2).Info("Set node podCIDR", "node", name, "podCIDR", cidr.String())
	return nil
}
