package kubelet

import (
	"context"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-k8s/skiff/pkg/kubelet/eviction"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// newEvictionManager wires the eviction manager to this kubelet.
func (k *Kubelet) newEvictionManager(thresholds []eviction.Threshold) *eviction.Manager {
	return eviction.NewManager(eviction.Config{
		Thresholds:       thresholds,
		Observe:          k.observeSignals,
		ActivePods:       k.evictablePods,
		PodStats:         k.podUsage,
		Evict:            k.evictPod,
		ReclaimImages:    k.imageGC.DeleteUnused,
		OnPressureChange: k.kickNodeStatus,
	})
}

// observeSignals reads memory.available (capacity minus the node's working
// set, as upstream) and the available bytes and inodes of the nodefs (the
// agent's data dir) and the imagefs (containerd's content).
func (k *Kubelet) observeSignals(context.Context) (eviction.Observations, error) {
	obs := eviction.Observations{}
	if _, mem, err := k.usage.Node(); err == nil && mem.AvailableBytes != nil && mem.UsageBytes != nil && mem.WorkingSetBytes != nil {
		capacity := int64(*mem.AvailableBytes + *mem.WorkingSetBytes)
		obs[eviction.SignalMemoryAvailable] = eviction.Observation{Available: int64(*mem.AvailableBytes), Capacity: capacity}
	}
	statfs := func(path string, bytes, inodes eviction.Signal) {
		var st unix.Statfs_t
		if path == "" || unix.Statfs(path, &st) != nil {
			return
		}
		obs[bytes] = eviction.Observation{Available: int64(st.Bavail) * st.Bsize, Capacity: int64(st.Blocks) * st.Bsize}
		if st.Files > 0 {
			obs[inodes] = eviction.Observation{Available: int64(st.Ffree), Capacity: int64(st.Files)}
		}
	}
	statfs(k.cfg.DataDir, eviction.SignalNodeFsAvailable, eviction.SignalNodeFsInodesFree)
	statfs(k.cfg.ImageFsPath, eviction.SignalImageFsAvailable, eviction.SignalImageFsInodesFree)
	return obs, nil
}

// evictablePods are the node's pods that are neither finished, deleted
// nor already evicted.
func (k *Kubelet) evictablePods() []*corev1.Pod {
	if k.podStore == nil {
		return nil
	}
	var out []*corev1.Pod
	for _, obj := range k.podStore.List() {
		p, ok := obj.(*corev1.Pod)
		if !ok || isTerminal(p.Status.Phase) || p.DeletionTimestamp != nil || k.evictionOf(p.UID) != "" {
			continue
		}
		out = append(out, p)
	}
	return out
}

// podUsage reads a pod's memory working set from its cgroups and its local
// disk use: the containers' writable layers and logs.
func (k *Kubelet) podUsage(ctx context.Context, pod *corev1.Pod) (eviction.PodStats, bool) {
	sbs, err := k.sandboxes(ctx, pod.UID)
	if err != nil || len(sbs) == 0 {
		return eviction.PodStats{}, false
	}
	sb := sbs[len(sbs)-1]
	st := eviction.PodStats{ContainerMemory: map[string]int64{}, ContainerDisk: map[string]int64{}}
	if _, mem, err := k.usage.Cgroup(sb.CgroupParent); err == nil && mem.WorkingSetBytes != nil {
		st.Memory = int64(*mem.WorkingSetBytes)
	}
	cs, err := k.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID})
	if err != nil {
		return st, true
	}
	for _, c := range cs {
		if c.State == runtime.StateRunning {
			if _, mem, err := k.usage.Cgroup(filepath.Join(sb.CgroupParent, c.ID)); err == nil && mem.WorkingSetBytes != nil {
				st.ContainerMemory[c.Name] += int64(*mem.WorkingSetBytes)
			}
		}
		disk, _ := k.rt.ContainerFsUsage(ctx, c.ID)
		if c.LogPath != "" {
			disk += dirSize(filepath.Dir(c.LogPath))
		}
		st.ContainerDisk[c.Name] += disk
		st.Disk += disk
	}
	return st, true
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// evictPod marks the pod evicted; its worker kills it with the eviction
// grace period and reports it Failed with reason Evicted.
func (k *Kubelet) evictPod(pod *corev1.Pod, message string) {
	k.setEviction(pod.UID, message)
	k.recorder.Event(pod, corev1.EventTypeWarning, eviction.Reason, message)
	k.queue.Add(pod.UID)
}

func (k *Kubelet) setEviction(uid types.UID, message string) {
	w := k.worker(uid)
	k.mu.Lock()
	w.evicted, w.evictedReason, w.rejected = message, eviction.Reason, false
	k.mu.Unlock()
}

// reject fails a pod that admission refused, as upstream's rejectPod: a
// Warning event with reason and message, and the status message
// "Pod was rejected: " and message, without a DisruptionTarget condition.
func (k *Kubelet) reject(pod *corev1.Pod, reason, message string) {
	w := k.worker(pod.UID)
	k.mu.Lock()
	w.evicted, w.evictedReason, w.rejected = "Pod was rejected: "+message, reason, true
	k.mu.Unlock()
	k.recorder.Event(pod, corev1.EventTypeWarning, reason, message)
}

// evictionOf is the eviction (or admission rejection) message of a pod, "" if none.
func (k *Kubelet) evictionOf(uid types.UID) string {
	_, msg, _ := k.rejectionOf(uid)
	return msg
}

// rejectionOf is the status reason and message of a pod's eviction or
// admission rejection (rejected), "" if none.
func (k *Kubelet) rejectionOf(uid types.UID) (reason, message string, rejected bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if w := k.workers[uid]; w != nil && w.evicted != "" {
		return w.evictedReason, w.evicted, w.rejected
	}
	return "", "", false
}
