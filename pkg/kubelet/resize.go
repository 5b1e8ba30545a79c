package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// In-place resize of a pod's CPU and memory (the pods/resize subresource),
// as upstream's kubelet does it. Three values exist for each resizable
// container (the regular ones and the sidecars):
//   - desired: the pod's spec;
//   - allocated: what the kubelet admitted, which new attempts of the
//     container and the pod's cgroup get;
//   - actuated: what the container runs with, recorded in its label
//     labelResources at creation and at each in-place update.
//
// A spec that differs from the allocation is a resize request. It is
// admitted when the pod's new requests fit the node's allocatable
// (else PodResizePending, reason Infeasible) beside the other pods'
// allocated requests (else PodResizePending, reason Deferred, retried at
// each sync). An admitted resize is actuated at once: the pod cgroup's
// limits are raised first and lowered last, each running container's
// cgroup is updated through the runtime, or the container is restarted
// when its resizePolicy says RestartContainer for a changed resource. A
// memory limit is never set below the current usage: the resize stays in
// progress with reason Error, retried at each sync. The allocation of a pod
// whose allocation differs from its spec or from what runs is kept in
// allocationsFile under the data dir, so that it survives a restart; every
// other pod's is derived from its spec and its containers' labels.

// labelResources holds the CPU and memory requests and limits a container
// runs with, as JSON of a ResourceRequirements.
const labelResources = "skiff.io/resources"

// allocationsFile is the allocations that differ from what the pods'
// specs and containers say, as upstream's allocated_pods_state checkpoint.
const allocationsFile = "allocated_pods_state"

// resizeState is a pod worker's view of its pod's resize conditions.
type resizeState struct {
	pending, inProgress *corev1.PodCondition
}

// allocations is the persisted store of allocations.
type allocations struct {
	path string
	mu   sync.Mutex
	m    map[types.UID]map[string]corev1.ResourceRequirements
}

// loadAllocations reads the store at path; a missing or unreadable file is
// an empty store (what it held is then derived from the containers).
func loadAllocations(path string) *allocations {
	a := &allocations{path: path, m: map[types.UID]map[string]corev1.ResourceRequirements{}}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &a.m); err != nil {
			klog.InfoS("Ignoring unreadable pod allocations", "path", path, "err", err)
			a.m = map[types.UID]map[string]corev1.ResourceRequirements{}
		}
	}
	return a
}

// get returns the pod's recorded allocation; a nil store records none.
func (a *allocations) get(uid types.UID) map[string]corev1.ResourceRequirements {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[uid]
}

// set records the pod's allocation, or forgets it when m is nil, and
// writes the store when that changed it. The store in memory changes only
// once the file did, so that a failed write is tried again.
func (a *allocations) set(uid types.UID, m map[string]corev1.ResourceRequirements) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old, had := a.m[uid]
	if m == nil && !had || m != nil && had && apiequality.Semantic.DeepEqual(old, m) {
		return nil
	}
	next := maps.Clone(a.m)
	if m == nil {
		delete(next, uid)
	} else {
		next[uid] = m
	}
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	tmp := a.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write pod allocations: %w", err)
	}
	if err := os.Rename(tmp, a.path); err != nil {
		return fmt.Errorf("write pod allocations: %w", err)
	}
	a.m = next
	return nil
}

func newAllocations(dataDir string) *allocations {
	return loadAllocations(filepath.Join(dataDir, allocationsFile))
}

// cpuMem is r's CPU and memory requests and limits, nil maps when none.
func cpuMem(r corev1.ResourceRequirements) corev1.ResourceRequirements {
	var out corev1.ResourceRequirements
	pick := func(l corev1.ResourceList) corev1.ResourceList {
		var o corev1.ResourceList
		for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := l[n]; ok {
				if o == nil {
					o = corev1.ResourceList{}
				}
				o[n] = q
			}
		}
		return o
	}
	out.Requests, out.Limits = pick(r.Requests), pick(r.Limits)
	return out
}

// resourcesLabel is the label value recording r.
func resourcesLabel(r corev1.ResourceRequirements) string {
	b, _ := json.Marshal(cpuMem(r))
	return string(b)
}

// actuated is what a container attempt runs with, from its label.
func actuated(cs *runtime.ContainerStatus) (corev1.ResourceRequirements, bool) {
	var r corev1.ResourceRequirements
	v, ok := cs.Labels[labelResources]
	if !ok || json.Unmarshal([]byte(v), &r) != nil {
		return r, false
	}
	return r, true
}

func sameResources(a, b corev1.ResourceRequirements) bool {
	return apiequality.Semantic.DeepEqual(cpuMem(a), cpuMem(b))
}

// resizable returns the pod's containers whose resources may be resized:
// the regular containers and the sidecars.
func resizable(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			out = append(out, &pod.Spec.InitContainers[i])
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// allocation is the pod's allocated resources by container name: the
// store's, else what the latest attempt of the container runs with, else
// the spec's.
func (k *Kubelet) allocation(pod *corev1.Pod, pr *podRuntime) map[string]corev1.ResourceRequirements {
	stored := k.allocs.get(pod.UID)
	out := map[string]corev1.ResourceRequirements{}
	for _, c := range resizable(pod) {
		r, ok := stored[c.Name]
		if l := pr.latest[c.Name]; !ok && l != nil {
			r, ok = actuated(l)
		}
		if !ok {
			r = cpuMem(c.Resources)
		}
		out[c.Name] = r
	}
	return out
}

// withResources returns pod with its resizable containers' resources
// replaced by alloc's; pod itself when they are the same.
func withResources(pod *corev1.Pod, alloc map[string]corev1.ResourceRequirements) *corev1.Pod {
	same := true
	for _, c := range resizable(pod) {
		if r, ok := alloc[c.Name]; ok && !sameResources(r, c.Resources) {
			same = false
		}
	}
	if same {
		return pod
	}
	p := pod.DeepCopy()
	for _, c := range resizable(p) {
		if r, ok := alloc[c.Name]; ok {
			// Other resources (ephemeral storage, extended ones) stay as specified.
			res := c.Resources.DeepCopy()
			for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				setQuantity(&res.Requests, n, r.Requests)
				setQuantity(&res.Limits, n, r.Limits)
			}
			c.Resources = *res
		}
	}
	return p
}

func setQuantity(dst *corev1.ResourceList, n corev1.ResourceName, src corev1.ResourceList) {
	q, ok := src[n]
	switch {
	case ok:
		if *dst == nil {
			*dst = corev1.ResourceList{}
		}
		(*dst)[n] = q
	case *dst != nil:
		delete(*dst, n)
	}
}

// syncResize admits and actuates a resize of the running pod, and returns
// the pod as allocated, whose resources its new containers get.
func (k *Kubelet) syncResize(ctx context.Context, pod *corev1.Pod, w *podWorker, pr *podRuntime) *corev1.Pod {
	log := klog.FromContext(ctx)
	alloc := k.allocation(pod, pr)
	prev := maps.Clone(alloc)
	requested := false
	for _, c := range resizable(pod) {
		if !sameResources(alloc[c.Name], c.Resources) {
			requested = true
		}
	}
	if requested {
		// Under the admission lock, and recorded before it is carried out,
		// so that neither an admission nor another resize takes the room.
		k.admitMu.Lock()
		reason, msg := k.resizeFeasible(pod)
		if reason == "" {
			for _, c := range resizable(pod) {
				alloc[c.Name] = cpuMem(c.Resources)
			}
			if err := k.allocs.set(pod.UID, alloc); err != nil {
				log.Info("Recording the pod's allocation failed", "pod", klog.KObj(pod), "err", err)
			}
		}
		k.admitMu.Unlock()
		if reason != "" {
			if w.resize.pending == nil || w.resize.pending.Reason != reason {
				k.recorder.Eventf(pod, corev1.EventTypeWarning, "Resize"+reason, "Pod resize %s: %s", reason, resizeEventJSON(pod, msg))
			}
			w.resize.pending = &corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue,
				Reason: reason, Message: msg, ObservedGeneration: pod.Generation}
		} else {
			w.resize.pending = nil
			w.resize.inProgress = &corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue, ObservedGeneration: pod.Generation}
			k.recorder.Eventf(pod, corev1.EventTypeNormal, "ResizeStarted", "Pod resize started: %s", resizeEventJSON(pod, ""))
		}
	} else {
		w.resize.pending = nil
	}
	allocPod := withResources(pod, alloc)

	err := k.actuateResize(ctx, pod, allocPod, w, pr, prev, alloc)
	switch {
	case err != nil:
		msg := err.Error()
		// One event per failure, not per retry (the usage in the message moves).
		if c := w.resize.inProgress; c == nil || c.Reason != corev1.PodReasonError {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "ResizeError", "Pod resize error: %s", resizeEventJSON(allocPod, msg))
		}
		gen := pod.Generation
		if w.resize.inProgress != nil {
			gen = w.resize.inProgress.ObservedGeneration
		}
		w.resize.inProgress = &corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue,
			Reason: corev1.PodReasonError, Message: msg, ObservedGeneration: gen}
	case w.resize.inProgress != nil && carries(allocPod, pr, alloc, true):
		w.resize.inProgress = nil
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "ResizeCompleted", "Pod resize completed: %s", resizeEventJSON(allocPod, ""))
	}

	// Keep the allocation where nothing else would tell it after a restart:
	// while a resize is pending, or the latest attempt of a container (one
	// waiting to restart too) does not run with it.
	if w.resize.pending != nil || !carries(allocPod, pr, alloc, false) {
		err = k.allocs.set(pod.UID, alloc)
	} else {
		err = k.allocs.set(pod.UID, nil)
	}
	if err != nil {
		log.Info("Recording the pod's allocation failed", "pod", klog.KObj(pod), "err", err)
	}
	return allocPod
}

// carries reports whether the latest attempt of every resizable container
// (of every running one, with running) was made or updated with its
// allocation. A container made before skiff recorded this counts as
// carrying it.
func carries(pod *corev1.Pod, pr *podRuntime, alloc map[string]corev1.ResourceRequirements, running bool) bool {
	for _, c := range resizable(pod) {
		l := pr.latest[c.Name]
		if l == nil || running && l.State != runtime.StateRunning {
			continue
		}
		if r, ok := actuated(l); ok && !sameResources(r, alloc[c.Name]) {
			return false
		}
	}
	return true
}

// resizeFeasible says why the pod, as its spec now asks, cannot have its
// resources on this node: Infeasible beyond the node's allocatable,
// Deferred beside the other pods' allocations; "" when it can.
func (k *Kubelet) resizeFeasible(pod *corev1.Pod) (reason, msg string) {
	alloc := k.nodeAllocatable()
	for _, n := range []corev1.ResourceName{corev1.ResourceMemory, corev1.ResourceCPU} {
		capacity, ok := alloc[n]
		if !ok {
			continue
		}
		if req := podTotal(pod, n, false); req.Cmp(capacity) > 0 {
			return corev1.PodReasonInfeasible, fmt.Sprintf("Node didn't have enough capacity: %s, requested: %d, capacity: %d", n, resourceValue(n, req), resourceValue(n, capacity))
		}
	}
	if _, msg := insufficient(pod, k.admittedOthers(pod), k.allocs, alloc); msg != "" {
		return corev1.PodReasonDeferred, msg
	}
	return "", ""
}

// actuateResize brings the running containers and the pod's cgroup to
// their allocation: the pod's limits go up before its containers' and down
// after them; a container whose resizePolicy asks for it is restarted
// instead (at once, without back-off, by syncContainers).
func (k *Kubelet) actuateResize(ctx context.Context, pod, allocPod *corev1.Pod, w *podWorker, pr *podRuntime, prev, alloc map[string]corev1.ResourceRequirements) error {
	type update struct {
		name string
		st   *runtime.ContainerStatus
		old  corev1.ResourceRequirements
	}
	var updates []update
	for _, c := range resizable(allocPod) {
		l := pr.latest[c.Name]
		if l == nil || l.State != runtime.StateRunning {
			continue
		}
		old, ok := actuated(l)
		if !ok {
			// Made before skiff recorded what a container runs with: as
			// allocated before this sync (its spec then).
			old = prev[c.Name]
		}
		if sameResources(old, alloc[c.Name]) {
			continue
		}
		if needsRestart(c, old, alloc[c.Name]) {
			if !w.resizeRestart[c.Name] {
				msg := fmt.Sprintf("Container %s resize requires restart", c.Name)
				if err := k.killContainer(ctx, pod, containerSpec(pod, c.Name), l.ID, gracePeriod(pod), msg, pr.ips); err != nil {
					return err
				}
				if w.resizeRestart == nil {
					w.resizeRestart = map[string]bool{}
				}
				w.resizeRestart[c.Name] = true
			}
			continue
		}
		updates = append(updates, update{name: c.Name, st: l, old: old})
	}
	cgroup := ""
	if pr.sandbox != nil {
		cgroup = pr.sandbox.CgroupParent
	}
	want := podCgroupResources(allocPod)
	if len(updates) == 0 {
		// The pod's cgroup alone: after a restart of skiff (once), or for a
		// resize of containers that restart or do not run.
		if cgroup == "" || w.podCgroupSet && w.podCgroup == want {
			return nil
		}
		if err := runtime.EnsureCgroup(cgroup, want); err != nil {
			return err
		}
		w.podCgroup, w.podCgroupSet = want, true
		return nil
	}
	// A memory limit below what is in use would push the kernel to reclaim
	// or kill: refused, as upstream.
	oldPod := allocPod.DeepCopy()
	for _, u := range updates {
		containerSpec(oldPod, u.name).Resources = u.old
	}
	cur := podCgroupResources(oldPod)
	if w.podCgroupSet {
		cur = w.podCgroup
	}
	var errs []error
	if lowered(want.MemoryLimit, cur.MemoryLimit) {
		if use := k.memoryInUse(cgroup); use > uint64(want.MemoryLimit) {
			errs = append(errs, fmt.Errorf("attempting to set pod memory limit (%d) below current usage (%d)", want.MemoryLimit, use))
		}
	}
	for _, u := range updates {
		n, o := k.resources(allocPod, containerSpec(allocPod, u.name)), k.resources(oldPod, containerSpec(oldPod, u.name))
		if lowered(n.MemoryLimit, o.MemoryLimit) {
			if use := k.memoryInUse(filepath.Join(cgroup, u.st.ID)); use > uint64(n.MemoryLimit) {
				errs = append(errs, fmt.Errorf("attempting to set container %q memory limit (%d) below current usage (%d)", u.name, n.MemoryLimit, use))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot decrease memory limits: %w", utilerrors.NewAggregate(errs))
	}
	if err := runtime.EnsureCgroup(cgroup, widest(want, cur)); err != nil {
		return err
	}
	w.podCgroupSet = false // until it is exactly want
	for _, u := range updates {
		c := containerSpec(allocPod, u.name)
		label := resourcesLabel(c.Resources)
		if err := k.rt.UpdateContainerResources(ctx, u.st.ID, k.resources(allocPod, c), map[string]string{labelResources: label}); err != nil {
			return err
		}
		u.st.Labels[labelResources] = label
	}
	if err := runtime.EnsureCgroup(cgroup, want); err != nil {
		return err
	}
	w.podCgroup, w.podCgroupSet = want, true
	if qosClass(pod) == corev1.PodQOSBurstable {
		if err := k.updateBurstableCgroup(); err != nil {
			klog.FromContext(ctx).Info("Updating the burstable QoS cgroup failed", "err", err)
		}
	}
	return nil
}

// needsRestart reports whether the container's resizePolicy asks for a
// restart for a resource that changes (a memory request alone never does).
func needsRestart(c *corev1.Container, old, alloc corev1.ResourceRequirements) bool {
	changed := func(n corev1.ResourceName) bool {
		if n == corev1.ResourceMemory {
			return !old.Limits[n].Equal(alloc.Limits[n])
		}
		return !old.Limits[n].Equal(alloc.Limits[n]) || !old.Requests[n].Equal(alloc.Requests[n])
	}
	for _, p := range c.ResizePolicy {
		if p.RestartPolicy == corev1.RestartContainer && changed(p.ResourceName) {
			return true
		}
	}
	return false
}

// lowered reports whether limit n is below o, 0 meaning none.
func lowered(n, o int64) bool { return n > 0 && (o == 0 || n < o) }

// widest is, field by field, the larger of two cgroup limits (none, 0,
// being the largest): the pod cgroup's while its containers change.
func widest(a, b runtime.CgroupResources) runtime.CgroupResources {
	lim := func(x, y int64) int64 {
		if x == 0 || y == 0 {
			return 0
		}
		return max(x, y)
	}
	out := runtime.CgroupResources{CPUShares: max(a.CPUShares, b.CPUShares), CPUPeriod: max(a.CPUPeriod, b.CPUPeriod)}
	out.CPUQuota = lim(a.CPUQuota, b.CPUQuota)
	out.MemoryLimit = lim(a.MemoryLimit, b.MemoryLimit)
	if out.CPUQuota == 0 {
		out.CPUPeriod = 0
	}
	return out
}

// memoryInUse is the working set of a cgroup, 0 when unknown.
func (k *Kubelet) memoryInUse(cgroup string) uint64 {
	_, mem, err := k.usage.Cgroup(cgroup)
	if err != nil || mem == nil || mem.WorkingSetBytes == nil {
		return 0
	}
	return *mem.WorkingSetBytes
}

// resizeEventJSON is the body of upstream's resize events: the resizable
// containers' resources, the pod's generation and the error, if any.
func resizeEventJSON(pod *corev1.Pod, msg string) string {
	type named struct {
		Name      string                      `json:"name"`
		Resources corev1.ResourceRequirements `json:"resources"`
	}
	var body struct {
		InitContainers []named `json:"initContainers,omitempty"`
		Containers     []named `json:"containers,omitempty"`
		Generation     int64   `json:"generation"`
		Error          string  `json:"error,omitempty"`
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; isSidecar(c) {
			body.InitContainers = append(body.InitContainers, named{c.Name, cpuMem(c.Resources)})
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		body.Containers = append(body.Containers, named{c.Name, cpuMem(c.Resources)})
	}
	body.Generation, body.Error = pod.Generation, msg
	b, _ := json.Marshal(body)
	return string(b)
}

// resizeStatus fills a container status's allocated and actual resources,
// as upstream's: requests allocated, and the requests and limits it runs
// with (its allocation when it does not run).
func resizeStatus(cs *corev1.ContainerStatus, alloc corev1.ResourceRequirements, latest *runtime.ContainerStatus) {
	alloc = cpuMem(alloc)
	if len(alloc.Requests) > 0 {
		cs.AllocatedResources = alloc.Requests
	}
	res := alloc
	if latest.State == runtime.StateRunning {
		if r, ok := actuated(latest); ok {
			res = cpuMem(r)
		}
	}
	cs.Resources = &res
}
