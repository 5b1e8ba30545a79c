package scheduler

import (
	"context"
	"math/rand/v2"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// Upstream's percentageOfNodesToScore: in a large cluster the search stops after
// enough feasible nodes, 50% less one point per 125 nodes, at least 5% and at least
// 100 nodes.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

func numFeasibleNodesToFind(all int) int {
	if all < minFeasibleNodesToFind {
		return all
	}
	pct := 50 - all/125
	if pct < minFeasibleNodesPercentageToFind {
		pct = minFeasibleNodesPercentageToFind
	}
	n := all * pct / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// scheduleOne takes the next pod from the queue and places it; it returns false
// when the queue is closed.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	qp := s.queue.Pop(ctx)
	if qp == nil {
		return false
	}
	pod := qp.pod
	if pod.DeletionTimestamp != nil || s.cache.IsAssumedOrBound(pod.UID) {
		s.queue.Done(qp)
		return true
	}
	cycle := s.queue.Cycle()
	state := newCycleState(pod)

	s.cache.mu.Lock()
	host, fitErr := s.findNode(state, pod)
	var plan *preemptionPlan
	if host != "" {
		assumed := *pod
		assumed.Spec.NodeName = host
		s.cache.Assume(&assumed)
	} else if fitErr.NumAllNodes > 0 {
		plan, fitErr.PostFilterMsg = s.planPreemption(state, pod, fitErr)
	}
	s.cache.mu.Unlock()

	if host == "" {
		s.handleFailure(ctx, qp, cycle, fitErr, plan)
		return true
	}
	s.queue.Done(qp)
	// Bindings run in the background so the next pod is placed meanwhile; a bound
	// on how many are in flight keeps a burst of thousands from queueing up (and
	// being throttled) in the apiserver, and slows the loop to the pace the
	// apiserver sets.
	select {
	case s.binding <- struct{}{}:
	case <-ctx.Done():
		s.cache.Forget(pod.UID)
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.binding }()
		s.bind(ctx, qp, host)
	}()
	return true
}

// findNode runs the filters over the nodes and scores the feasible ones; it returns
// the chosen node, or the reasons no node fits. The caller holds the cache lock.
func (s *Scheduler) findNode(state *CycleState, pod *corev1.Pod) (string, *FitError) {
	nodes := s.cache.Nodes()
	fe := &FitError{Pod: pod, NumAllNodes: len(nodes), NodeStatus: map[string]*Status{}}
	if len(nodes) == 0 {
		return "", fe
	}
	state.nodes = nodes
	for _, pl := range s.profile.PreFilters {
		if st := pl.PreFilter(state, pod, nodes); !st.IsSuccess() {
			st.Plugin = pl.Name()
			fe.PreFilter = st
			return "", fe
		}
	}
	// A pod that preempted others goes to its nominated node if it now fits.
	if nn := pod.Status.NominatedNodeName; nn != "" {
		if n := s.cache.Node(nn); n != nil && s.runFiltersWithNominated(state, pod, n).IsSuccess() {
			return nn, nil
		}
	}
	feasible := s.filter(state, pod, nodes, fe)
	switch len(feasible) {
	case 0:
		return "", fe
	case 1:
		return feasible[0].Node.Name, nil
	}
	return s.selectHost(state, pod, feasible), nil
}

// filter walks the nodes from where the last cycle stopped until it has found
// enough feasible ones, recording why the others failed.
func (s *Scheduler) filter(state *CycleState, pod *corev1.Pod, nodes []*NodeInfo, fe *FitError) []*NodeInfo {
	want := numFeasibleNodesToFind(len(nodes))
	feasible := make([]*NodeInfo, 0, want)
	start := s.nextStart % len(nodes)
	checked := 0
	for ; checked < len(nodes) && len(feasible) < want; checked++ {
		n := nodes[(start+checked)%len(nodes)]
		if st := s.runFiltersWithNominated(state, pod, n); !st.IsSuccess() {
			fe.NodeStatus[n.Node.Name] = st
			continue
		}
		feasible = append(feasible, n)
	}
	s.nextStart = (start + checked) % len(nodes)
	return feasible
}

// runFiltersWithNominated judges a node as if the pods nominated to it that
// outrank pod already ran there.
func (s *Scheduler) runFiltersWithNominated(state *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	sim, st := s.withNominated(state, pod, n)
	return s.runFilters(st, pod, sim)
}

// runFilters stops at the first plugin that fails the node, as upstream does.
func (s *Scheduler) runFilters(state *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	for _, pl := range s.profile.Filters {
		if st := pl.Filter(state, pod, n); !st.IsSuccess() {
			st.Plugin = pl.Name()
			return st
		}
	}
	return nil
}

// selectHost scores the feasible nodes and picks the best, breaking ties at random.
func (s *Scheduler) selectHost(state *CycleState, pod *corev1.Pod, feasible []*NodeInfo) string {
	for _, pl := range s.profile.PreScores {
		pl.PreScore(state, pod, feasible)
	}
	total := make([]int64, len(feasible))
	scores := make([]int64, len(feasible))
	for _, pl := range s.profile.Scores {
		for i, n := range feasible {
			scores[i] = pl.Score(state, pod, n)
		}
		if norm, ok := pl.ScorePlugin.(ScoreNormalizer); ok {
			norm.Normalize(state, feasible, scores)
		}
		for i := range scores {
			total[i] += scores[i] * pl.weight
		}
	}
	best, ties := 0, 1
	for i := 1; i < len(total); i++ {
		switch {
		case total[i] > total[best]:
			best, ties = i, 1
		case total[i] == total[best]:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return feasible[best].Node.Name
}

// bind writes the binding; on failure the assumed pod is forgotten and the pod
// retried after its backoff.
func (s *Scheduler) bind(ctx context.Context, qp *queuedPod, host string) {
	pod := qp.pod
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: host},
	}
	var err error
	for _, pl := range s.profile.PreBinds {
		if err = pl.PreBind(ctx, pod, host); err != nil {
			break
		}
	}
	if err == nil {
		err = s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	}
	if err == nil {
		s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, host)
		return
	}
	s.cache.Forget(pod.UID)
	if ctx.Err() != nil {
		return
	}
	klog.FromContext(ctx).V(2).Info("Binding failed", "pod", klog.KObj(pod), "node", host, "err", err)
	s.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "Binding rejected: %v", err)
	if apierrors.IsNotFound(err) {
		return
	}
	// Retry only a pod the informer still shows pending; one deleted meanwhile
	// must not come back into the queue.
	if cur, gerr := s.podLister.Pods(pod.Namespace).Get(pod.Name); gerr == nil && cur.UID == pod.UID && responsible(cur) {
		s.queue.Retry(qp)
	}
	s.queue.Move(eventAny)
}
