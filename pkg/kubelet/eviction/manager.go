package eviction

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/klog/v2"
)

// Upstream's defaults.
const (
	// MonitoringPeriod is how often signals are observed.
	MonitoringPeriod = 10 * time.Second
	// PressureTransitionPeriod is how long a pressure condition stays after
	// its signal was last over a threshold.
	PressureTransitionPeriod = 5 * time.Minute
	// GracePeriod is the grace period of a pod evicted for a hard threshold.
	GracePeriod = time.Second
	// Reason is the pod status reason of an evicted or rejected pod.
	Reason = "Evicted"
)

// Observation is a signal's value and its resource's capacity.
type Observation struct {
	Available, Capacity int64
}

// Observations are the signals observed at one time.
type Observations map[Signal]Observation

// PodStats are a pod's usage: working-set memory and local disk (writable
// layers and logs), in total and by container name.
type PodStats struct {
	Memory, Disk                   int64
	ContainerMemory, ContainerDisk map[string]int64
}

// Config wires the manager to the kubelet.
type Config struct {
	Thresholds []Threshold
	// Observe reads the signals.
	Observe func(ctx context.Context) (Observations, error)
	// ActivePods are the pods that may be evicted (admitted, not terminal).
	ActivePods func() []*corev1.Pod
	// PodStats reads a pod's usage; a pod without stats ranks first.
	PodStats func(ctx context.Context, pod *corev1.Pod) (PodStats, bool)
	// Evict kills the pod with GracePeriod and marks it Failed with Reason
	// and the message.
	Evict func(pod *corev1.Pod, message string)
	// ReclaimImages removes unused images (disk pressure's node-level reclaim).
	ReclaimImages func(ctx context.Context) (int64, error)
	// OnPressureChange is called when a pressure condition turns on or off.
	OnPressureChange func()
	// Now is time.Now when nil.
	Now func() time.Time
}

// Manager watches thresholds and evicts pods.
type Manager struct {
	cfg Config

	mu sync.Mutex
	// lastMet is when a threshold of each condition was last met.
	lastMet          map[corev1.NodeConditionType]time.Time
	memory, disk     bool
	lastObservations Observations
}

// NewManager returns a manager; Run starts it.
func NewManager(cfg Config) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{cfg: cfg, lastMet: map[corev1.NodeConditionType]time.Time{}}
}

// Pressure reports the node's MemoryPressure and DiskPressure.
func (m *Manager) Pressure() (memory, disk bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.memory, m.disk
}

// Run synchronizes every MonitoringPeriod until ctx is done.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(MonitoringPeriod)
	defer t.Stop()
	for {
		if _, err := m.Synchronize(ctx); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "Eviction manager: synchronize")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func conditionOf(s Signal) corev1.NodeConditionType {
	if s == SignalMemoryAvailable {
		return corev1.NodeMemoryPressure
	}
	return corev1.NodeDiskPressure
}

// resourceOf is the resource a signal's eviction reclaims, as named in messages.
func resourceOf(s Signal) corev1.ResourceName {
	switch s {
	case SignalMemoryAvailable:
		return corev1.ResourceMemory
	case SignalNodeFsInodesFree, SignalImageFsInodesFree:
		return "inodes"
	}
	return corev1.ResourceEphemeralStorage
}

func (m *Manager) met(obs Observations) []Threshold {
	var out []Threshold
	for _, t := range m.cfg.Thresholds {
		o, ok := obs[t.Signal]
		if ok && o.Available < t.value(o.Capacity) {
			out = append(out, t)
		}
	}
	// Memory first, as upstream orders reclaim.
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Signal == SignalMemoryAvailable && out[j].Signal != SignalMemoryAvailable
	})
	return out
}

// Synchronize observes the signals, updates the pressure conditions and, if
// a threshold is met, reclaims or evicts one pod, which it returns.
func (m *Manager) Synchronize(ctx context.Context) (*corev1.Pod, error) {
	obs, err := m.cfg.Observe(ctx)
	if err != nil {
		return nil, err
	}
	met := m.met(obs)
	now := m.cfg.Now()
	m.mu.Lock()
	for _, t := range met {
		m.lastMet[conditionOf(t.Signal)] = now
	}
	under := func(c corev1.NodeConditionType) bool {
		at, ok := m.lastMet[c]
		return ok && now.Sub(at) < PressureTransitionPeriod
	}
	memory, disk := under(corev1.NodeMemoryPressure), under(corev1.NodeDiskPressure)
	changed := memory != m.memory || disk != m.disk
	m.memory, m.disk, m.lastObservations = memory, disk, obs
	m.mu.Unlock()
	if changed {
		klog.FromContext(ctx).Info("Node pressure changed", "memoryPressure", memory, "diskPressure", disk)
		if m.cfg.OnPressureChange != nil {
			m.cfg.OnPressureChange()
		}
	}
	if len(met) == 0 {
		return nil, nil
	}
	t := met[0]
	log := klog.FromContext(ctx)
	log.Info("Eviction threshold met, attempting to reclaim", "threshold", t.String(), "available", obs[t.Signal].Available)
	if resourceOf(t.Signal) != corev1.ResourceMemory && m.cfg.ReclaimImages != nil {
		// Node-level reclaim first: unused images.
		if freed, err := m.cfg.ReclaimImages(ctx); err != nil {
			log.Error(err, "Eviction manager: reclaiming images")
		} else if freed > 0 {
			if obs2, err := m.cfg.Observe(ctx); err == nil {
				o := obs2[t.Signal]
				if o.Available >= t.value(o.Capacity) {
					log.Info("Eviction manager: reclaimed enough by removing images", "bytes", freed)
					return nil, nil
				}
				obs = obs2
			}
		}
	}
	pods := m.cfg.ActivePods()
	if len(pods) == 0 {
		log.Info("Eviction manager: no pod to evict", "threshold", t.String())
		return nil, nil
	}
	stats := map[*corev1.Pod]PodStats{}
	found := map[*corev1.Pod]bool{}
	for _, p := range pods {
		stats[p], found[p] = m.cfg.PodStats(ctx, p)
	}
	res := resourceOf(t.Signal)
	rank(pods, res, stats, found)
	victim := pods[0]
	o := obs[t.Signal]
	msg := evictionMessage(victim, t, o, res, stats[victim])
	log.Info("Evicting pod", "pod", klog.KObj(victim), "threshold", t.String())
	m.cfg.Evict(victim, msg)
	return victim, nil
}

// rank orders pods for eviction as upstream: usage over requests first,
// then lower priority, then more usage above requests.
func rank(pods []*corev1.Pod, res corev1.ResourceName, stats map[*corev1.Pod]PodStats, found map[*corev1.Pod]bool) {
	usage := func(p *corev1.Pod) int64 {
		if res == corev1.ResourceMemory {
			return stats[p].Memory
		}
		return stats[p].Disk
	}
	request := func(p *corev1.Pod) int64 {
		if res == "inodes" {
			return 0
		}
		q := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})[res]
		return q.Value()
	}
	priority := func(p *corev1.Pod) int32 {
		if p.Spec.Priority != nil {
			return *p.Spec.Priority
		}
		return 0
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if found[a] != found[b] {
			return !found[a] // no stats: first
		}
		ea, eb := usage(a) > request(a), usage(b) > request(b)
		if ea != eb {
			return ea
		}
		if pa, pb := priority(a), priority(b); pa != pb {
			return pa < pb
		}
		return usage(a)-request(a) > usage(b)-request(b)
	})
}

func quantity(res corev1.ResourceName, v int64) string {
	if res == "inodes" {
		return resource.NewQuantity(v, resource.DecimalSI).String()
	}
	return resource.NewQuantity(v, resource.BinarySI).String()
}

// evictionMessage is upstream's wording.
func evictionMessage(pod *corev1.Pod, t Threshold, o Observation, res corev1.ResourceName, st PodStats) string {
	var b strings.Builder
	threshold := t.value(o.Capacity)
	if t.Quantity != nil {
		fmt.Fprintf(&b, "The node was low on resource: %v. Threshold quantity: %v, available: %v. ", res, t.Quantity.String(), quantity(res, o.Available))
	} else {
		fmt.Fprintf(&b, "The node was low on resource: %v. Threshold quantity: %v, available: %v. ", res, quantity(res, threshold), quantity(res, o.Available))
	}
	per := st.ContainerMemory
	if res != corev1.ResourceMemory {
		per = st.ContainerDisk
	}
	if res == "inodes" {
		return b.String()
	}
	for _, c := range pod.Spec.Containers {
		used, ok := per[c.Name]
		if !ok {
			continue
		}
		req := c.Resources.Requests[res]
		if used > req.Value() {
			fmt.Fprintf(&b, "Container %s was using %s, request is %s, has larger consumption of %v. ", c.Name, quantity(res, used), req.String(), res)
		}
	}
	return b.String()
}

// Admit says whether a new pod may start under the node's pressure, as
// upstream's eviction admission: under DiskPressure no pod, under
// MemoryPressure no BestEffort pod (unless it tolerates the memory-pressure
// taint); critical pods always. The message is upstream's.
func (m *Manager) Admit(pod *corev1.Pod, bestEffort bool) (bool, string) {
	memory, disk := m.Pressure()
	if !memory && !disk {
		return true, ""
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority >= 2000000000 {
		return true, ""
	}
	var conds []string
	if memory {
		conds = append(conds, string(corev1.NodeMemoryPressure))
	}
	if disk {
		conds = append(conds, string(corev1.NodeDiskPressure))
	}
	if !disk && memory && !bestEffort {
		return true, ""
	}
	if !disk && memory {
		for _, tol := range pod.Spec.Tolerations {
			if tol.ToleratesTaint(klog.Background(), &corev1.Taint{Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule}, false) {
				return true, ""
			}
		}
	}
	return false, fmt.Sprintf("The node had condition: %v. ", "["+strings.Join(conds, ", ")+"]")
}
