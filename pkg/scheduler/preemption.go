package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
)

// Preemption reasons and messages, in upstream's words.
const (
	reasonNoVictims      = "No preemption victims found for incoming pod"
	reasonNotHelpful     = "Preemption is not helpful for scheduling"
	msgPolicyNever       = "not eligible due to preemptionPolicy=Never."
	msgTerminatingVictim = "not eligible due to a terminating pod on the nominated node."
)

// Upstream's bounds on the nodes preemption dry-runs: 10% of them, at least 100.
const (
	minCandidateNodesPercentage = 10
	minCandidateNodesAbsolute   = 100
)

// preemptionPlan is what preemption decided: the node the pod is nominated to and
// the pods to evict there.
type preemptionPlan struct {
	node    string
	victims []*corev1.Pod
	// demoted are lower-priority pods nominated to the same node, whose nomination
	// is cleared.
	demoted []*corev1.Pod
}

type candidate struct {
	node          *NodeInfo
	victims       []*PodInfo
	pdbViolations int
}

// planPreemption looks for a node where evicting pods of lower priority lets pod
// fit, as upstream's DefaultPreemption does. It returns the plan, or the
// "preemption: …" message saying why there is none. The caller holds the cache lock.
func (s *Scheduler) planPreemption(state *CycleState, pod *corev1.Pod, fe *FitError) (*preemptionPlan, string) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		return nil, "preemption: " + msgPolicyNever
	}
	prio := corev1helpers.PodPriority(pod)
	if nn := pod.Status.NominatedNodeName; nn != "" {
		if st := fe.NodeStatus[nn]; st == nil || st.Code != UnschedulableAndUnresolvable {
			// Victims evicted for this pod are still leaving: wait for them rather
			// than evict more.
			if n := s.cache.Node(nn); n != nil {
				for _, pi := range n.Pods {
					if pi.Pod.DeletionTimestamp != nil && corev1helpers.PodPriority(pi.Pod) < prio {
						return nil, "preemption: " + msgTerminatingVictim
					}
				}
			}
		}
	}
	nodes := s.cache.Nodes()
	statuses := make(map[string]*Status, len(nodes))
	var potential []*NodeInfo
	for _, n := range nodes {
		st := fe.NodeStatus[n.Node.Name]
		if fe.PreFilter != nil || st == nil || st.Code == UnschedulableAndUnresolvable {
			statuses[n.Node.Name] = unresolvable(reasonNotHelpful)
			continue
		}
		potential = append(potential, n)
	}
	want := len(nodes) * minCandidateNodesPercentage / 100
	if want < minCandidateNodesAbsolute {
		want = minCandidateNodesAbsolute
	}
	pdbs := s.pdbs(pod)
	var candidates []candidate
	for _, n := range potential {
		if len(candidates) >= want {
			break
		}
		victims, violations, st := s.selectVictims(state, pod, prio, n, pdbs)
		if !st.IsSuccess() {
			statuses[n.Node.Name] = st
			continue
		}
		candidates = append(candidates, candidate{node: n, victims: victims, pdbViolations: violations})
	}
	if len(candidates) == 0 {
		return nil, fmt.Sprintf("preemption: 0/%d nodes are available: %s.", len(nodes), histogram(statuses, nil))
	}
	best := pickCandidate(candidates)
	plan := &preemptionPlan{node: best.node.Node.Name}
	for _, v := range best.victims {
		plan.victims = append(plan.victims, v.Pod)
	}
	for _, np := range s.cache.nominatedOn(plan.node) {
		if np.Pod.UID != pod.UID && corev1helpers.PodPriority(np.Pod) < prio {
			plan.demoted = append(plan.demoted, np.Pod)
		}
	}
	return plan, ""
}

// selectVictims removes every lower-priority pod from a copy of the node; if pod
// then fits, it puts back as many as still leave room, those protected by a
// PodDisruptionBudget first. The rest are the victims.
func (s *Scheduler) selectVictims(state *CycleState, pod *corev1.Pod, prio int32, n *NodeInfo, pdbs []*policyv1.PodDisruptionBudget) ([]*PodInfo, int, *Status) {
	var potential []*PodInfo
	for _, pi := range n.Pods {
		if corev1helpers.PodPriority(pi.Pod) < prio {
			potential = append(potential, pi)
		}
	}
	if len(potential) == 0 {
		return nil, 0, unresolvable(reasonNoVictims)
	}
	sim := n.clone()
	st := state.clone()
	for _, pi := range potential {
		sim.removePod(pi)
		for _, ext := range s.profile.Extensions {
			ext.updatePod(st, pod, pi, sim, -1)
		}
	}
	if status := s.runFilters(st, pod, sim); !status.IsSuccess() {
		return nil, 0, status
	}
	sort.SliceStable(potential, func(i, j int) bool { return moreImportant(potential[i].Pod, potential[j].Pod) })
	violating, other := splitByPDB(potential, pdbs)
	var victims []*PodInfo
	reprieve := func(pi *PodInfo) bool {
		sim.addPod(pi)
		for _, ext := range s.profile.Extensions {
			ext.updatePod(st, pod, pi, sim, 1)
		}
		if s.runFilters(st, pod, sim).IsSuccess() {
			return true
		}
		sim.removePod(pi)
		for _, ext := range s.profile.Extensions {
			ext.updatePod(st, pod, pi, sim, -1)
		}
		victims = append(victims, pi)
		return false
	}
	violations := 0
	for _, pi := range violating {
		if !reprieve(pi) {
			violations++
		}
	}
	for _, pi := range other {
		reprieve(pi)
	}
	if len(victims) == 0 {
		return nil, 0, unresolvable(reasonNoVictims)
	}
	return victims, violations, nil
}

// moreImportant orders pods by priority, then by start time (older first).
func moreImportant(a, b *corev1.Pod) bool {
	pa, pb := corev1helpers.PodPriority(a), corev1helpers.PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return startTime(a).Before(startTime(b))
}

func startTime(p *corev1.Pod) *metav1.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime
	}
	return &p.CreationTimestamp
}

// pdbs lists the PodDisruptionBudgets of the cluster.
func (s *Scheduler) pdbs(_ *corev1.Pod) []*policyv1.PodDisruptionBudget {
	if s.pdbLister == nil {
		return nil
	}
	l, _ := s.pdbLister.List(labels.Everything())
	return l
}

// splitByPDB separates the pods whose eviction would break a budget (its allowed
// disruptions used up, counting the pods already chosen) from the others.
func splitByPDB(pods []*PodInfo, pdbs []*policyv1.PodDisruptionBudget) (violating, other []*PodInfo) {
	allowed := make([]int32, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.Status.DisruptionsAllowed
	}
	for _, pi := range pods {
		violates := false
		for i, pdb := range pdbs {
			if pdb.Namespace != pi.Pod.Namespace {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(pi.Pod.Labels)) {
				continue
			}
			// A pod the budget already counts as disrupted costs nothing more.
			if _, gone := pdb.Status.DisruptedPods[pi.Pod.Name]; gone {
				continue
			}
			allowed[i]--
			if allowed[i] < 0 {
				violates = true
			}
		}
		if violates {
			violating = append(violating, pi)
		} else {
			other = append(other, pi)
		}
	}
	return violating, other
}

// pickCandidate prefers, in upstream's order: fewest budget violations, the
// lowest highest-priority victim, the smallest sum of victim priorities, the
// fewest victims, the most recently started highest-priority victims.
func pickCandidate(cs []candidate) candidate {
	best := cs[0]
	for _, c := range cs[1:] {
		if better(c, best) {
			best = c
		}
	}
	return best
}

func better(a, b candidate) bool {
	if a.pdbViolations != b.pdbViolations {
		return a.pdbViolations < b.pdbViolations
	}
	ha, hb := highestPriority(a.victims), highestPriority(b.victims)
	if ha != hb {
		return ha < hb
	}
	sa, sb := prioritySum(a.victims), prioritySum(b.victims)
	if sa != sb {
		return sa < sb
	}
	if len(a.victims) != len(b.victims) {
		return len(a.victims) < len(b.victims)
	}
	return earliestStart(a.victims).After(earliestStart(b.victims).Time)
}

func highestPriority(vs []*PodInfo) int32 {
	h := int32(math.MinInt32)
	for _, v := range vs {
		if p := corev1helpers.PodPriority(v.Pod); p > h {
			h = p
		}
	}
	return h
}

// prioritySum shifts priorities to be non-negative so that more victims never sum
// to less, as upstream does.
func prioritySum(vs []*PodInfo) int64 {
	var sum int64
	for _, v := range vs {
		sum += int64(corev1helpers.PodPriority(v.Pod)) + math.MaxInt32 + 1
	}
	return sum
}

// earliestStart is the earliest start among the highest-priority victims.
func earliestStart(vs []*PodInfo) *metav1.Time {
	h := highestPriority(vs)
	var earliest *metav1.Time
	for _, v := range vs {
		if corev1helpers.PodPriority(v.Pod) != h {
			continue
		}
		if t := startTime(v.Pod); earliest == nil || t.Before(earliest) {
			earliest = t
		}
	}
	return earliest
}

// execute evicts the victims (marking them DisruptionTarget first, as upstream
// does, then deleting them gracefully) and clears the nominations of
// lower-priority pods on the node.
func (s *Scheduler) execute(ctx context.Context, pod *corev1.Pod, plan *preemptionPlan) {
	logger := klog.FromContext(ctx)
	for _, v := range plan.victims {
		cond := corev1.PodCondition{
			Type:               corev1.DisruptionTarget,
			Status:             corev1.ConditionTrue,
			Reason:             corev1.PodReasonPreemptionByScheduler,
			Message:            fmt.Sprintf("%s: preempting to accommodate a higher priority pod", DefaultSchedulerName),
			LastTransitionTime: metav1.Now(),
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{cond}}})
		if _, err := s.client.CoreV1().Pods(v.Namespace).Patch(ctx, v.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil && !apierrors.IsNotFound(err) {
			logger.V(2).Info("Marking preemption victim failed", "pod", klog.KObj(v), "err", err)
		}
		err := s.client.CoreV1().Pods(v.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &v.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			logger.V(2).Info("Deleting preemption victim failed", "pod", klog.KObj(v), "err", err)
			continue
		}
		s.recorder.Eventf(v, corev1.EventTypeNormal, "Preempted", "Preempted by pod %s on node %s", pod.UID, plan.node)
	}
	for _, p := range plan.demoted {
		s.cache.Nominate(p, "")
		patch := []byte(`{"status":{"nominatedNodeName":null}}`)
		if _, err := s.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil && !apierrors.IsNotFound(err) {
			logger.V(2).Info("Clearing nominated node failed", "pod", klog.KObj(p), "err", err)
		}
	}
}
