package scheduler

import (
	"container/heap"
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// Upstream's queue timings: backoff starts at 1s and doubles to 10s; a pod left
// unschedulable for 5 minutes is retried even if nothing moved it.
const (
	initialBackoff         = time.Second
	maxBackoff             = 10 * time.Second
	maxUnschedulableWait   = 5 * time.Minute
	queueFlushPeriod       = time.Second
	unschedulableFlushTick = 30 * time.Second
)

type place int

const (
	inActive place = iota
	inBackoff
	inUnschedulable
	inGated
	inFlight
)

// queuedPod is a pending pod in the scheduling queue.
type queuedPod struct {
	pod *corev1.Pod
	// added is when the pod first entered the queue; pods of equal priority are
	// scheduled in that order.
	added    time.Time
	attempts int
	// backoffUntil is when a failed pod may be tried again.
	backoffUntil time.Time
	// unschedulableSince is when the pod entered the unschedulable set.
	unschedulableSince time.Time
	// rejectedBy names the plugins that failed the pod last time: only cluster
	// events that can help those plugins move it back.
	rejectedBy map[string]bool
	// updated records an update that came while the pod was being scheduled.
	updated bool
	where   place
	index   int
}

// clusterEvent names what changed in the cluster; pods rejected by a plugin it can
// help are moved out of the unschedulable set.
type clusterEvent struct {
	// plugins limits the move to pods rejected by one of them; nil moves all.
	plugins map[string]bool
}

var (
	eventAny         = clusterEvent{}
	eventAssignedPod = clusterEvent{plugins: map[string]bool{"InterPodAffinity": true, "PodTopologySpread": true}}
	eventVolume      = clusterEvent{plugins: map[string]bool{"VolumeBinding": true}}
)

// Queue orders pending pods by priority, then by arrival; holds failed pods in
// backoff; and parks unschedulable pods until a cluster event may let them fit.
type Queue struct {
	mu   sync.Mutex
	cond *sync.Cond
	pods map[types.UID]*queuedPod
	// active pops the highest priority first; backoff pops the earliest expiry.
	active  podHeap
	backoff podHeap
	// unschedulable holds the parked pods, so a cluster event walks only them.
	unschedulable map[types.UID]*queuedPod
	// cycle counts pops; moveCycle is the cycle of the last cluster event that may
	// help any pod, pluginMoveCycle that of the last one that may help pods a given
	// plugin rejected: a pod that failed in a cycle that started before such an
	// event goes to backoff rather than waiting for the next event.
	cycle, moveCycle int64
	pluginMoveCycle  map[string]int64
	closed           bool
	now              func() time.Time
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	q := &Queue{pods: map[types.UID]*queuedPod{}, unschedulable: map[types.UID]*queuedPod{}, pluginMoveCycle: map[string]int64{}, now: time.Now}
	q.cond = sync.NewCond(&q.mu)
	q.active.less = func(a, b *queuedPod) bool {
		pa, pb := corev1helpers.PodPriority(a.pod), corev1helpers.PodPriority(b.pod)
		if pa != pb {
			return pa > pb
		}
		return a.added.Before(b.added)
	}
	q.backoff.less = func(a, b *queuedPod) bool { return a.backoffUntil.Before(b.backoffUntil) }
	return q
}

// Add queues a new pending pod; a gated pod waits until its gates are removed.
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.pods[pod.UID]; ok {
		q.updateLocked(pod)
		return
	}
	qp := &queuedPod{pod: pod, added: q.now()}
	q.pods[pod.UID] = qp
	if len(pod.Spec.SchedulingGates) > 0 {
		qp.where = inGated
		return
	}
	q.pushActive(qp)
}

// Update replaces a queued pod. A change that could make it schedulable (its spec,
// labels or annotations, not its status) retries it now rather than waiting.
func (q *Queue) Update(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.pods[pod.UID]; !ok {
		qp := &queuedPod{pod: pod, added: q.now()}
		q.pods[pod.UID] = qp
		if len(pod.Spec.SchedulingGates) > 0 {
			qp.where = inGated
			return
		}
		q.pushActive(qp)
		return
	}
	q.updateLocked(pod)
}

func (q *Queue) updateLocked(pod *corev1.Pod) {
	qp := q.pods[pod.UID]
	old := qp.pod
	qp.pod = pod
	changed := podSchedulingChanged(old, pod)
	switch qp.where {
	case inActive:
		heap.Fix(&q.active, qp.index)
	case inBackoff:
		if changed {
			heap.Remove(&q.backoff, qp.index)
			q.pushActive(qp)
		}
	case inUnschedulable:
		if changed {
			q.requeueLocked(qp)
		}
	case inGated:
		if len(pod.Spec.SchedulingGates) == 0 {
			q.pushActive(qp)
		}
	case inFlight:
		if changed {
			qp.updated = true
		}
	}
}

// podSchedulingChanged reports whether an update touched what scheduling reads: the
// spec, labels or annotations. Status writes (our own condition patches among them)
// must not requeue a pod, or it would loop.
func podSchedulingChanged(old, new *corev1.Pod) bool {
	return !equality.Semantic.DeepEqual(old.Spec, new.Spec) ||
		!equality.Semantic.DeepEqual(old.Labels, new.Labels) ||
		!equality.Semantic.DeepEqual(old.Annotations, new.Annotations)
}

// Delete drops a pod (deleted, or bound by someone else).
func (q *Queue) Delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp := q.pods[uid]
	if qp == nil {
		return
	}
	delete(q.pods, uid)
	switch qp.where {
	case inActive:
		heap.Remove(&q.active, qp.index)
	case inBackoff:
		heap.Remove(&q.backoff, qp.index)
	case inUnschedulable:
		delete(q.unschedulable, uid)
	}
}

// Pop blocks until a pod is ready to schedule or ctx ends (nil).
func (q *Queue) Pop(ctx context.Context) *queuedPod {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed || ctx.Err() != nil {
		return nil
	}
	qp := heap.Pop(&q.active).(*queuedPod)
	qp.where = inFlight
	qp.updated = false
	qp.attempts++
	q.cycle++
	return qp
}

// Cycle is the number of pods popped so far.
func (q *Queue) Cycle() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cycle
}

// Done forgets a pod that was bound (or handed to a binding in progress).
func (q *Queue) Done(qp *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.pod.UID] == qp {
		delete(q.pods, qp.pod.UID)
	}
}

// Unschedulable parks a pod no node fits. If a cluster event or an update came
// while it was being scheduled (after cycle), it is retried after its backoff.
func (q *Queue) Unschedulable(qp *queuedPod, cycle int64, rejectedBy map[string]bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.pod.UID] != qp {
		return // deleted meanwhile
	}
	qp.rejectedBy = rejectedBy
	qp.backoffUntil = q.now().Add(backoffFor(qp.attempts))
	if q.movedSince(cycle, rejectedBy) || qp.updated {
		q.pushBackoff(qp)
		return
	}
	qp.where = inUnschedulable
	qp.unschedulableSince = q.now()
	q.unschedulable[qp.pod.UID] = qp
}

// Retry requeues a pod after its backoff, for errors such as a failed binding, or
// returns a pod that was re-added to the queue meanwhile.
func (q *Queue) Retry(qp *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	cur := q.pods[qp.pod.UID]
	if cur != nil && cur != qp {
		return
	}
	if cur == nil {
		q.pods[qp.pod.UID] = qp
	}
	qp.backoffUntil = q.now().Add(backoffFor(qp.attempts))
	q.pushBackoff(qp)
}

// movedSince reports whether an event that may help a pod rejected by those
// plugins came in or after cycle.
func (q *Queue) movedSince(cycle int64, rejectedBy map[string]bool) bool {
	if q.moveCycle >= cycle {
		return true
	}
	if len(rejectedBy) == 0 {
		for _, c := range q.pluginMoveCycle {
			if c >= cycle {
				return true
			}
		}
		return false
	}
	for p := range rejectedBy {
		if q.pluginMoveCycle[p] >= cycle {
			return true
		}
	}
	return false
}

func backoffFor(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	if d > maxBackoff {
		d = maxBackoff
	}
	return d
}

// Move retries the unschedulable pods the event can help: at once if their backoff
// is over, else when it is.
func (q *Queue) Move(ev clusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ev.plugins == nil {
		q.moveCycle = q.cycle
	}
	for p := range ev.plugins {
		q.pluginMoveCycle[p] = q.cycle
	}
	for _, qp := range q.unschedulable {
		if ev.helps(qp) {
			q.requeueLocked(qp)
		}
	}
}

func (ev clusterEvent) helps(qp *queuedPod) bool {
	if ev.plugins == nil || len(qp.rejectedBy) == 0 {
		return true
	}
	for p := range qp.rejectedBy {
		if ev.plugins[p] {
			return true
		}
	}
	return false
}

func (q *Queue) requeueLocked(qp *queuedPod) {
	delete(q.unschedulable, qp.pod.UID)
	if q.now().Before(qp.backoffUntil) {
		q.pushBackoff(qp)
		return
	}
	q.pushActive(qp)
}

// Run moves pods whose backoff is over to the active queue, and retries pods left
// unschedulable too long, until ctx ends; then it wakes Pop for good.
func (q *Queue) Run(ctx context.Context) {
	tick := time.NewTicker(queueFlushPeriod)
	defer tick.Stop()
	last := q.now()
	for {
		select {
		case <-ctx.Done():
			q.mu.Lock()
			q.closed = true
			q.cond.Broadcast()
			q.mu.Unlock()
			return
		case <-tick.C:
		}
		q.mu.Lock()
		now := q.now()
		for q.backoff.Len() > 0 && !now.Before(q.backoff.items[0].backoffUntil) {
			q.pushActive(heap.Pop(&q.backoff).(*queuedPod))
		}
		if now.Sub(last) >= unschedulableFlushTick {
			last = now
			for _, qp := range q.unschedulable {
				if now.Sub(qp.unschedulableSince) >= maxUnschedulableWait {
					q.requeueLocked(qp)
				}
			}
		}
		q.mu.Unlock()
	}
}

func (q *Queue) pushActive(qp *queuedPod) {
	qp.where = inActive
	heap.Push(&q.active, qp)
	q.cond.Signal()
}

func (q *Queue) pushBackoff(qp *queuedPod) {
	qp.where = inBackoff
	heap.Push(&q.backoff, qp)
}

// Len counts the pods waiting in the queue, in each place, for tests and logs.
func (q *Queue) Len() (active, backoff, unschedulable, gated int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, qp := range q.pods {
		switch qp.where {
		case inActive:
			active++
		case inBackoff:
			backoff++
		case inUnschedulable:
			unschedulable++
		case inGated:
			gated++
		}
	}
	return
}

// podHeap is a binary heap of queued pods under less.
type podHeap struct {
	items []*queuedPod
	less  func(a, b *queuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	qp := x.(*queuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
}
func (h *podHeap) Pop() any {
	n := len(h.items) - 1
	qp := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	return qp
}
