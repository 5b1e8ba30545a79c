package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

// PodInfo is a pod counted on a node, with what the plugins read precomputed once
// instead of in every scheduling cycle.
type PodInfo struct {
	Pod      *corev1.Pod
	Requests Resource
	// NonZeroCPU and NonZeroMem are the requests with upstream's defaults for
	// containers that leave them out; scores use them.
	NonZeroCPU, NonZeroMem int64
	Ports                  []hostPort
	// affinityTerms are parsed on first use (nil: not yet; empty: none).
	affinityTerms *podAffinityTerms
	parsed        bool
}

// affinity returns the pod's parsed inter-pod affinity terms, or nil.
func (pi *PodInfo) affinity() *podAffinityTerms {
	if !pi.parsed {
		pi.affinityTerms, pi.parsed = parseAffinity(pi.Pod), true
	}
	return pi.affinityTerms
}

func newPodInfo(pod *corev1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod, Requests: podRequests(pod), Ports: podHostPorts(pod)}
	pi.NonZeroCPU, pi.NonZeroMem = podNonZeroRequests(pod)
	return pi
}

// hasAffinity reports whether the pod carries inter-pod affinity or anti-affinity
// terms, so plugins only walk the pods that do.
func (pi *PodInfo) hasAffinity() bool {
	a := pi.Pod.Spec.Affinity
	return a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)
}

// NodeInfo is a node with the pods the scheduler counts on it: those the informer
// shows bound to it and those this scheduler has just bound (assumed).
type NodeInfo struct {
	// Node is nil while pods name a node the informer has not shown yet.
	Node        *corev1.Node
	Pods        []*PodInfo
	Allocatable Resource
	Requested   Resource
	// NonZeroCPU and NonZeroMem sum the pods' non-zero requests, for scoring.
	NonZeroCPU, NonZeroMem int64
	// UsedPorts counts host ports in use by protocol, IP and port.
	UsedPorts map[hostPort]int
	// PodsWithAffinity counts the pods with inter-pod affinity terms.
	PodsWithAffinity int
}

func (n *NodeInfo) setNode(node *corev1.Node) {
	n.Node = node
	n.Allocatable = NewResource(node.Status.Allocatable)
}

func (n *NodeInfo) addPod(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	n.account(pi, 1)
}

func (n *NodeInfo) removePod(pi *PodInfo) {
	for i, p := range n.Pods {
		if p == pi {
			last := len(n.Pods) - 1
			n.Pods[i] = n.Pods[last]
			n.Pods[last] = nil
			n.Pods = n.Pods[:last]
			n.account(pi, -1)
			return
		}
	}
}

func (n *NodeInfo) account(pi *PodInfo, sign int64) {
	n.Requested.plus(&pi.Requests, sign)
	n.NonZeroCPU += sign * pi.NonZeroCPU
	n.NonZeroMem += sign * pi.NonZeroMem
	if pi.hasAffinity() {
		n.PodsWithAffinity += int(sign)
	}
	for _, p := range pi.Ports {
		if n.UsedPorts == nil {
			n.UsedPorts = map[hostPort]int{}
		}
		n.UsedPorts[p] += int(sign)
		if n.UsedPorts[p] <= 0 {
			delete(n.UsedPorts, p)
		}
	}
}

// Name is the node's name ("" for a placeholder).
func (n *NodeInfo) Name() string {
	if n.Node == nil {
		return ""
	}
	return n.Node.Name
}

// clone copies the node's accounting for a preemption dry run; the pods themselves
// are shared, unchanged.
func (n *NodeInfo) clone() *NodeInfo {
	c := *n
	c.Pods = append([]*PodInfo(nil), n.Pods...)
	c.Requested.Scalar = copyScalar(n.Requested.Scalar)
	c.UsedPorts = make(map[hostPort]int, len(n.UsedPorts))
	for k, v := range n.UsedPorts {
		c.UsedPorts[k] = v
	}
	return &c
}

func copyScalar(m map[corev1.ResourceName]int64) map[corev1.ResourceName]int64 {
	if m == nil {
		return nil
	}
	c := make(map[corev1.ResourceName]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
