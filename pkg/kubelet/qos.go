package kubelet

import (
	"context"
	"path/filepath"
	goruntime "runtime"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// The QoS cgroup hierarchy of upstream's kubelet (cgroupfs driver), under
// the runtime's cgroup root: Guaranteed pods in kubepods/pod<uid>, the
// others in kubepods/burstable/pod<uid> and kubepods/besteffort/pod<uid>.
const (
	kubepodsCgroup   = "kubepods"
	burstableCgroup  = "burstable"
	besteffortCgroup = "besteffort"

	minShares     = 2
	sharesPerCPU  = 1024
	cfsPeriod     = 100000
	minCFSQuotaUs = 1000
)

// podCgroupParent is where a new pod's cgroup goes, by its QoS class.
func (k *Kubelet) podCgroupParent(pod *corev1.Pod) string {
	base := filepath.Join(k.rt.CgroupRoot(), kubepodsCgroup)
	switch qosClass(pod) {
	case corev1.PodQOSBurstable:
		base = filepath.Join(base, burstableCgroup)
	case corev1.PodQOSBestEffort:
		base = filepath.Join(base, besteffortCgroup)
	}
	return filepath.Join(base, "pod"+string(pod.UID))
}

// milliCPUToShares and milliCPUToQuota convert as upstream's kubelet does.
func milliCPUToShares(milli int64) uint64 {
	if milli == 0 {
		return minShares
	}
	return uint64(max(milli*sharesPerCPU/1000, minShares))
}

func milliCPUToQuota(milli int64) int64 {
	if milli == 0 {
		return 0
	}
	return max(milli*cfsPeriod/1000, minCFSQuotaUs)
}

// podTotal is the pod's effective request (or limit) of a resource, as
// upstream's PodRequests/PodLimits compute it for the kubelet and the
// scheduler alike: its pod-level resources where set, else the containers'
// sum with the sidecars', or the largest init container's with the
// sidecars started before it, whichever is larger; plus the pod overhead.
func podTotal(pod *corev1.Pod, name corev1.ResourceName, limits bool) resource.Quantity {
	if limits {
		return resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})[name]
	}
	return resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})[name]
}

// podCgroupResources are the pod cgroup's limits as upstream's
// ResourceConfigForPod: shares from the CPU requests; CFS quota and memory
// limit only when the pod sets that limit at pod level or every container
// does; 2 shares for BestEffort.
func podCgroupResources(pod *corev1.Pod) runtime.CgroupResources {
	if qosClass(pod) == corev1.PodQOSBestEffort {
		return runtime.CgroupResources{CPUShares: minShares}
	}
	cpuReq := podTotal(pod, corev1.ResourceCPU, false)
	res := runtime.CgroupResources{CPUShares: milliCPUToShares(cpuReq.MilliValue())}
	cpuLimited, memLimited := true, true
	all := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		if q, ok := c.Resources.Limits[corev1.ResourceCPU]; !ok || q.IsZero() {
			cpuLimited = false
		}
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
			memLimited = false
		}
	}
	// Pod-level limits bound the pod whatever its containers say.
	if r := pod.Spec.Resources; r != nil {
		cpuLimited = cpuLimited || !r.Limits.Cpu().IsZero()
		memLimited = memLimited || !r.Limits.Memory().IsZero()
	}
	if cpuLimited {
		lim := podTotal(pod, corev1.ResourceCPU, true)
		res.CPUPeriod = cfsPeriod
		res.CPUQuota = milliCPUToQuota(lim.MilliValue())
	}
	if memLimited {
		lim := podTotal(pod, corev1.ResourceMemory, true)
		res.MemoryLimit = lim.Value()
	}
	return res
}

// setupQOSCgroups creates the kubepods, burstable and besteffort cgroups.
// kubepods is held to the node's allocatable, as upstream's kubelet does
// with its default --enforce-node-allocatable=pods: the CPU shares of all
// the machine's CPUs, and a memory limit that keeps memoryReserve for the
// system and skiff whatever the pods do. besteffort gets the minimum CPU
// shares.
func (k *Kubelet) setupQOSCgroups() error {
	base := filepath.Join(k.rt.CgroupRoot(), kubepodsCgroup)
	all := runtime.CgroupResources{CPUShares: milliCPUToShares(int64(goruntime.NumCPU()) * 1000)}
	if _, forPods, ok := machineMemory(); ok && forPods > 0 {
		all.MemoryLimit = forPods
	}
	if err := runtime.EnsureCgroup(base, all); err != nil {
		return err
	}
	if err := runtime.EnsureCgroup(filepath.Join(base, besteffortCgroup), runtime.CgroupResources{CPUShares: minShares}); err != nil {
		return err
	}
	return k.updateBurstableCgroup()
}

// updateBurstableCgroup sets the burstable cgroup's CPU shares to the sum
// of its pods' CPU requests, as upstream's QoS container manager does
// periodically.
func (k *Kubelet) updateBurstableCgroup() error {
	var milli int64
	k.mu.Lock()
	for _, p := range k.pods {
		if qosClass(p) != corev1.PodQOSBurstable || isTerminal(p.Status.Phase) {
			continue
		}
		req := podTotal(p, corev1.ResourceCPU, false)
		milli += req.MilliValue()
	}
	k.mu.Unlock()
	path := filepath.Join(k.rt.CgroupRoot(), kubepodsCgroup, burstableCgroup)
	return runtime.EnsureCgroup(path, runtime.CgroupResources{CPUShares: milliCPUToShares(milli)})
}

// ensurePodCgroup creates a new pod's cgroup with its limits before its
// first container starts, after bringing the burstable class's shares up to
// date.
func (k *Kubelet) ensurePodCgroup(ctx context.Context, pod *corev1.Pod, parent string) error {
	if err := k.updateBurstableCgroup(); err != nil {
		klog.FromContext(ctx).Info("Updating the burstable QoS cgroup failed", "err", err)
	}
	return runtime.EnsureCgroup(parent, podCgroupResources(pod))
}
