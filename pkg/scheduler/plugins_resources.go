package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

// Reasons of NodeResourcesFit, in upstream's words.
const (
	reasonTooManyPods = "Too many pods"
	reasonInsufficent = "Insufficient "
)

// nodeResourcesFit keeps pods off nodes without room for their requests (CPU,
// memory, ephemeral storage, extended resources and the pod count), and scores the
// least allocated nodes highest.
type nodeResourcesFit struct{}

func (nodeResourcesFit) Name() string { return "NodeResourcesFit" }

func (nodeResourcesFit) Filter(state *CycleState, _ *corev1.Pod, n *NodeInfo) *Status {
	return fits(&state.req.Requests, n)
}

// fits lists every resource the node lacks for req, as upstream's fitsRequest does.
func fits(req *Resource, n *NodeInfo) *Status {
	var reasons []string
	if int64(len(n.Pods))+1 > n.Allocatable.AllowedPodNumber {
		reasons = append(reasons, reasonTooManyPods)
	}
	if req.IsZero() {
		return statusOf(reasons)
	}
	alloc, used := &n.Allocatable, &n.Requested
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		reasons = append(reasons, reasonInsufficent+string(corev1.ResourceCPU))
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		reasons = append(reasons, reasonInsufficent+string(corev1.ResourceMemory))
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		reasons = append(reasons, reasonInsufficent+string(corev1.ResourceEphemeralStorage))
	}
	for name, v := range req.Scalar {
		if v > 0 && v > alloc.Scalar[name]-used.Scalar[name] {
			reasons = append(reasons, reasonInsufficent+string(name))
		}
	}
	return statusOf(reasons)
}

func statusOf(reasons []string) *Status {
	if len(reasons) == 0 {
		return nil
	}
	return unschedulable(reasons...)
}

// Score is upstream's LeastAllocated over CPU and memory (weight 1 each), with the
// non-zero requests so that pods without requests still spread.
func (nodeResourcesFit) Score(state *CycleState, _ *corev1.Pod, n *NodeInfo) int64 {
	cpu := leastAllocated(n.NonZeroCPU+state.req.NonZeroCPU, n.Allocatable.MilliCPU)
	mem := leastAllocated(n.NonZeroMem+state.req.NonZeroMem, n.Allocatable.Memory)
	return (cpu + mem) / 2
}

func leastAllocated(requested, capacity int64) int64 {
	if capacity <= 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * MaxNodeScore / capacity
}

// balancedAllocation prefers nodes whose CPU and memory would be used in equal
// shares, so that neither runs out while the other idles.
type balancedAllocation struct{}

func (balancedAllocation) Name() string { return "NodeResourcesBalancedAllocation" }

func (balancedAllocation) Score(state *CycleState, _ *corev1.Pod, n *NodeInfo) int64 {
	cpu := fraction(n.NonZeroCPU+state.req.NonZeroCPU, n.Allocatable.MilliCPU)
	mem := fraction(n.NonZeroMem+state.req.NonZeroMem, n.Allocatable.Memory)
	// With two resources the standard deviation is half their difference.
	std := (cpu - mem) / 2
	if std < 0 {
		std = -std
	}
	return int64((1 - std) * float64(MaxNodeScore))
}

func fraction(requested, capacity int64) float64 {
	if capacity <= 0 {
		return 1
	}
	f := float64(requested) / float64(capacity)
	if f > 1 {
		return 1
	}
	return f
}
