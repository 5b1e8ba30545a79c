package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// Nominated pods are pending pods that preempted others and wait for their node to
// be freed (status.nominatedNodeName). Until they are bound, pods of lower or
// equal priority are filtered as if the nominated pods already ran there, so the
// room made by preemption is not taken by someone else.

// Nominate records (node != "") or clears (node == "") a pod's nomination.
func (c *Cache) Nominate(pod *corev1.Pod, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.nominated[pod.UID]; ok {
		if old.node == node {
			return
		}
		delete(c.nominatedByNode[old.node], pod.UID)
		if len(c.nominatedByNode[old.node]) == 0 {
			delete(c.nominatedByNode, old.node)
		}
		delete(c.nominated, pod.UID)
	}
	if node == "" {
		return
	}
	pi := newPodInfo(pod)
	c.nominated[pod.UID] = nomination{node: node, info: pi}
	if c.nominatedByNode[node] == nil {
		c.nominatedByNode[node] = map[types.UID]*PodInfo{}
	}
	c.nominatedByNode[node][pod.UID] = pi
}

type nomination struct {
	node string
	info *PodInfo
}

// nominatedOn lists the pods nominated to a node. The caller holds c.mu.
func (c *Cache) nominatedOn(node string) []*PodInfo {
	m := c.nominatedByNode[node]
	if len(m) == 0 {
		return nil
	}
	out := make([]*PodInfo, 0, len(m))
	for _, pi := range m {
		out = append(out, pi)
	}
	return out
}

// withNominated returns n with the pods nominated to it that pod must make way
// for (other pods of at least its priority) added, or n itself when there are none.
// The caller holds c.mu.
func (s *Scheduler) withNominated(state *CycleState, pod *corev1.Pod, n *NodeInfo) (*NodeInfo, *CycleState) {
	m := s.cache.nominatedByNode[n.Node.Name]
	if len(m) == 0 {
		return n, state
	}
	prio := corev1helpers.PodPriority(pod)
	var add []*PodInfo
	for uid, pi := range m {
		if uid != pod.UID && corev1helpers.PodPriority(pi.Pod) >= prio {
			add = append(add, pi)
		}
	}
	if len(add) == 0 {
		return n, state
	}
	sim, st := n.clone(), state.clone()
	for _, pi := range add {
		sim.addPod(pi)
		for _, ext := range s.profile.Extensions {
			ext.updatePod(st, pod, pi, sim, 1)
		}
	}
	return sim, st
}
