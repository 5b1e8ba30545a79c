package nodelifecycle

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	nodeutil "k8s.io/component-helpers/node/util"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// labelNodeDisruptionExclusion keeps a node out of the disruption count, as upstream.
const labelNodeDisruptionExclusion = "node.kubernetes.io/exclude-disruption"

// conditionsSetUnknown are the kubelet's conditions the controller marks Unknown;
// NetworkUnavailable is left alone (the network plugin owns it), as upstream.
var conditionsSetUnknown = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// monitorNodeHealth is one pass over all nodes: it posts Ready=Unknown for nodes
// whose heartbeat is stale, keeps the NoExecute taints in step with Ready, and marks
// the pods of nodes that stopped being Ready not ready.
func (nc *Controller) monitorNodeHealth(ctx context.Context) {
	logger := klog.FromContext(ctx)
	nodes, err := nc.nodes.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	nc.recordAddedAndRemoved(nodes)

	type checked struct {
		node              *corev1.Node
		observed, current *corev1.NodeCondition
	}
	results := make([]checked, 0, len(nodes))
	considered, ready := 0, 0
	for _, n := range nodes {
		node := n.DeepCopy()
		var observed, current *corev1.NodeCondition
		for attempt := 0; ; attempt++ {
			observed, current, err = nc.tryUpdateNodeHealth(ctx, node)
			if err == nil || attempt == 4 {
				break
			}
			if node, err = nc.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{}); err != nil {
				break
			}
		}
		if err != nil {
			logger.Error(err, "Update health of Node from Controller error, Skipping - no pods will be evicted", "node", n.Name)
			continue
		}
		results = append(results, checked{node, observed, current})
		if _, excluded := node.Labels[labelNodeDisruptionExclusion]; !excluded {
			considered++
			if current != nil && current.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	// Upstream's full disruption: no Ready node anywhere.
	fullDisruption := considered > 0 && ready == 0

	for _, r := range results {
		if r.current == nil {
			continue
		}
		nc.processTaintBaseEviction(ctx, r.node, r.current, fullDisruption)
		if r.current.Status != corev1.ConditionTrue && r.observed.Status == corev1.ConditionTrue {
			controllers.RecordNodeStatusChange(nc.recorder, r.node, "NodeNotReady")
			nc.markPodsOfNodeNotReady(ctx, r.node.Name)
		} else if r.current.Status != corev1.ConditionTrue && nc.takeRetry(r.node.Name) {
			nc.markPodsOfNodeNotReady(ctx, r.node.Name)
		}
	}
}

func (nc *Controller) markPodsOfNodeNotReady(ctx context.Context, nodeName string) {
	pods, err := controllers.PodsOnNode(nc.podInf, nodeName)
	if err == nil {
		err = nc.markPodsNotReady(ctx, pods, nodeName)
	}
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("unable to mark all pods NotReady on node %v: %w; queuing for retry", nodeName, err))
		nc.mu.Lock()
		nc.retry[nodeName] = true
		nc.mu.Unlock()
	}
}

func (nc *Controller) takeRetry(nodeName string) bool {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	r := nc.retry[nodeName]
	delete(nc.retry, nodeName)
	return r
}

// recordAddedAndRemoved records RegisteredNode and RemovingNode as the
// controller first sees a node and sees it gone.
func (nc *Controller) recordAddedAndRemoved(nodes []*corev1.Node) {
	seen := make(map[string]bool, len(nodes))
	nc.mu.Lock()
	defer nc.mu.Unlock()
	for _, n := range nodes {
		seen[n.Name] = true
		if _, ok := nc.known[n.Name]; !ok {
			controllers.RecordNodeEvent(nc.recorder, n, corev1.EventTypeNormal, "RegisteredNode", fmt.Sprintf("Registered Node %v in Controller", n.Name))
			nc.known[n.Name] = n.UID
		}
	}
	for name, uid := range nc.known {
		if !seen[name] {
			gone := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: uid}}
			controllers.RecordNodeEvent(nc.recorder, gone, corev1.EventTypeNormal, "RemovingNode", fmt.Sprintf("Removing Node %v from Controller", name))
			delete(nc.known, name)
			delete(nc.health, name)
			delete(nc.retry, name)
		}
	}
}

// healthOf returns a copy of what the controller last saw of a node, or nil.
func (nc *Controller) healthOf(name string) *nodeHealth {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	h := nc.health[name]
	if h == nil {
		return nil
	}
	return &nodeHealth{probeTimestamp: h.probeTimestamp, status: h.status.DeepCopy(), lease: h.lease.DeepCopy()}
}

func (nc *Controller) setHealth(name string, h *nodeHealth) {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	nc.health[name] = h
}

// tryUpdateNodeHealth checks node's heartbeat and posts its conditions Unknown when
// the heartbeat is older than the grace period. It returns the Ready condition as
// observed (before) and as current (after); node is updated in place.
func (nc *Controller) tryUpdateNodeHealth(ctx context.Context, node *corev1.Node) (*corev1.NodeCondition, *corev1.NodeCondition, error) {
	h := nc.healthOf(node.Name)
	now := nc.now()
	grace := nc.gracePeriod
	var observed corev1.NodeCondition
	_, current := nodeutil.GetNodeCondition(&node.Status, corev1.NodeReady)
	if current == nil {
		// Never posted: pretend a Ready=Unknown from the node's creation, and give
		// a new node the longer startup grace period.
		observed = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: node.CreationTimestamp}
		grace = nc.startupGrace
		if h == nil {
			h = &nodeHealth{probeTimestamp: node.CreationTimestamp}
		}
		h.status = node.Status.DeepCopy()
	} else {
		observed = *current
	}

	var saved *corev1.NodeCondition
	if h != nil {
		_, saved = nodeutil.GetNodeCondition(h.status, corev1.NodeReady)
	}
	switch {
	case h == nil:
		h = &nodeHealth{probeTimestamp: now, status: node.Status.DeepCopy()}
	case saved == nil && current != nil, saved != nil && current == nil:
		h = &nodeHealth{probeTimestamp: now, status: node.Status.DeepCopy(), lease: h.lease}
	case saved != nil && current != nil && !saved.LastHeartbeatTime.Equal(&current.LastHeartbeatTime):
		h = &nodeHealth{probeTimestamp: now, status: node.Status.DeepCopy(), lease: h.lease}
	}
	// A renewed lease is a heartbeat too (the kubelet renews it every 10s and
	// posts status only on change or every 5 minutes).
	lease, _ := nc.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name)
	if lease != nil && lease.Spec.RenewTime != nil &&
		(h.lease == nil || h.lease.Spec.RenewTime == nil || h.lease.Spec.RenewTime.Before(lease.Spec.RenewTime)) {
		h.lease = lease.DeepCopy()
		h.probeTimestamp = now
	}
	defer func() { nc.setHealth(node.Name, h) }()

	if !now.After(h.probeTimestamp.Add(grace)) {
		return &observed, current, nil
	}
	for _, t := range conditionsSetUnknown {
		_, c := nodeutil.GetNodeCondition(&node.Status, t)
		if c == nil {
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: now,
			})
		} else if c.Status != corev1.ConditionUnknown {
			c.Status = corev1.ConditionUnknown
			c.Reason = "NodeStatusUnknown"
			c.Message = "Kubelet stopped posting node status."
			c.LastTransitionTime = now
		}
	}
	_, current = nodeutil.GetNodeCondition(&node.Status, corev1.NodeReady)
	if apiequality.Semantic.DeepEqual(current, &observed) {
		return &observed, current, nil
	}
	klog.FromContext(ctx).V(2).Info("Node heartbeat is stale, marking its conditions Unknown", "node", node.Name, "since", now.Sub(h.probeTimestamp.Time))
	updated, err := nc.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return &observed, nil, nil
		}
		return &observed, current, err
	}
	*node = *updated
	_, current = nodeutil.GetNodeCondition(&node.Status, corev1.NodeReady)
	h = &nodeHealth{probeTimestamp: h.probeTimestamp, status: node.Status.DeepCopy(), lease: h.lease}
	return &observed, current, nil
}
