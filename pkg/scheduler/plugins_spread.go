package scheduler

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// Reasons of PodTopologySpread, in upstream's words.
const (
	reasonSpreadMissingLabel = "node(s) didn't match pod topology spread constraints (missing required label)"
	reasonSpread             = "node(s) didn't match pod topology spread constraints"
)

// podTopologySpread spreads pods that match a constraint's selector evenly over the
// constraint's topology domains: DoNotSchedule constraints filter nodes whose
// domain would exceed maxSkew, ScheduleAnyway ones score emptier domains higher.
type podTopologySpread struct {
	// Listers of what may own a pod, for the system default constraints.
	services    corelisters.ServiceLister
	controllers corelisters.ReplicationControllerLister
	replicaSets appslisters.ReplicaSetLister
	statefulSet appslisters.StatefulSetLister
}

func (*podTopologySpread) Name() string { return "PodTopologySpread" }

type spreadConstraint struct {
	maxSkew    int32
	key        string
	minDomains int32
	selector   labels.Selector
	// honorAffinity and honorTaints are the node inclusion policies: whether
	// nodes the pod cannot go to count as domains.
	honorAffinity, honorTaints bool
	// selfMatch: the pod matches its own selector, so placing it adds one.
	selfMatch bool
}

// spreadCounts counts matching pods per domain of each constraint.
type spreadCounts struct {
	constraints []spreadConstraint
	counts      []map[string]int
	// anyKey: a node need not carry every constraint's key (system defaults).
	anyKey bool
}

type spreadState struct {
	hard, soft spreadCounts
	// softIgnored marks feasible nodes that lack a soft constraint's key.
	softIgnored map[string]bool
}

func buildConstraints(pod *corev1.Pod, want corev1.UnsatisfiableConstraintAction) []spreadConstraint {
	var cs []spreadConstraint
	for _, tsc := range pod.Spec.TopologySpreadConstraints {
		if tsc.WhenUnsatisfiable != want {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
		if err != nil {
			sel = labels.Nothing()
		}
		// matchLabelKeys narrow the selector to the pod's own values of those keys.
		for _, k := range tsc.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, selection.Equals, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		c := spreadConstraint{
			maxSkew:       tsc.MaxSkew,
			key:           tsc.TopologyKey,
			minDomains:    1,
			selector:      sel,
			honorAffinity: tsc.NodeAffinityPolicy == nil || *tsc.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor,
			honorTaints:   tsc.NodeTaintsPolicy != nil && *tsc.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor,
		}
		if tsc.MinDomains != nil {
			c.minDomains = *tsc.MinDomains
		}
		c.selfMatch = sel.Matches(labels.Set(pod.Labels))
		cs = append(cs, c)
	}
	return cs
}

// count fills the per-domain counts over nodes: only nodes that carry every
// constraint's key and pass the inclusion policies form domains.
func (sc *spreadCounts) count(pod *corev1.Pod, nodes []*NodeInfo) {
	sc.counts = make([]map[string]int, len(sc.constraints))
	for i := range sc.counts {
		sc.counts[i] = map[string]int{}
	}
	if len(sc.constraints) == 0 {
		return
	}
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, n := range nodes {
		if !sc.anyKey && !sc.hasKeys(n.Node) {
			continue
		}
		for i, c := range sc.constraints {
			domain, ok := n.Node.Labels[c.key]
			if !ok || !c.includes(pod, required, n.Node) {
				continue
			}
			sc.counts[i][domain] += c.matching(pod.Namespace, n.Pods)
		}
	}
}

func (sc *spreadCounts) hasAnyKey(node *corev1.Node) bool {
	for _, c := range sc.constraints {
		if _, ok := node.Labels[c.key]; ok {
			return true
		}
	}
	return false
}

func (sc *spreadCounts) hasKeys(node *corev1.Node) bool {
	for _, c := range sc.constraints {
		if _, ok := node.Labels[c.key]; !ok {
			return false
		}
	}
	return true
}

func (c *spreadConstraint) includes(pod *corev1.Pod, required nodeaffinity.RequiredNodeAffinity, node *corev1.Node) bool {
	if c.honorAffinity {
		if ok, _ := required.Match(node); !ok {
			return false
		}
	}
	if c.honorTaints {
		if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations, scheduleTaints, false); untolerated {
			return false
		}
	}
	return true
}

// matching counts the pods of namespace ns the selector matches; pods being deleted
// are on their way out and do not count.
func (c *spreadConstraint) matching(ns string, pods []*PodInfo) int {
	n := 0
	for _, pi := range pods {
		if c.matches(ns, pi.Pod) {
			n++
		}
	}
	return n
}

func (c *spreadConstraint) matches(ns string, p *corev1.Pod) bool {
	return p.Namespace == ns && p.DeletionTimestamp == nil && c.selector.Matches(labels.Set(p.Labels))
}

// minMatch is the smallest count over the constraint's domains, 0 while there are
// fewer domains than minDomains.
func (sc *spreadCounts) minMatch(i int) int {
	counts := sc.counts[i]
	if len(counts) < int(sc.constraints[i].minDomains) {
		return 0
	}
	m := math.MaxInt
	for _, n := range counts {
		if n < m {
			m = n
		}
	}
	if m == math.MaxInt {
		return 0
	}
	return m
}

func (pl *podTopologySpread) PreFilter(state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) *Status {
	s := &spreadState{hard: spreadCounts{constraints: buildConstraints(pod, corev1.DoNotSchedule)}}
	s.hard.count(pod, nodes)
	state.data[pl.Name()] = s
	return nil
}

func (pl *podTopologySpread) Filter(state *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	s := state.data[pl.Name()].(*spreadState)
	hard := &s.hard
	if len(hard.constraints) == 0 {
		return nil
	}
	for i, c := range hard.constraints {
		domain, ok := n.Node.Labels[c.key]
		if !ok {
			return unresolvable(reasonSpreadMissingLabel)
		}
		self := 0
		if c.selfMatch {
			self = 1
		}
		if hard.counts[i][domain]+self-hard.minMatch(i) > int(c.maxSkew) {
			return unschedulable(reasonSpread)
		}
	}
	return nil
}

// removePod and addPod keep the counts true while preemption tries evicting pods.
func (pl *podTopologySpread) updatePod(state *CycleState, pod *corev1.Pod, victim *PodInfo, n *NodeInfo, delta int) {
	s, ok := state.data[pl.Name()].(*spreadState)
	if !ok {
		return
	}
	for i, c := range s.hard.constraints {
		domain, ok := n.Node.Labels[c.key]
		if !ok || !c.matches(pod.Namespace, victim.Pod) {
			continue
		}
		if _, counted := s.hard.counts[i][domain]; counted {
			s.hard.counts[i][domain] += delta
		}
	}
}

func (s *spreadState) clone() any {
	c := *s
	c.hard.counts = make([]map[string]int, len(s.hard.counts))
	for i, m := range s.hard.counts {
		c.hard.counts[i] = make(map[string]int, len(m))
		for k, v := range m {
			c.hard.counts[i][k] = v
		}
	}
	return &c
}

func (pl *podTopologySpread) PreScore(state *CycleState, pod *corev1.Pod, feasible []*NodeInfo) {
	s := state.data[pl.Name()].(*spreadState)
	s.soft = spreadCounts{constraints: buildConstraints(pod, corev1.ScheduleAnyway)}
	s.softIgnored = nil
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		s.soft = pl.systemDefaults(pod)
	}
	if len(s.soft.constraints) == 0 {
		return
	}
	s.soft.count(pod, feasible)
}

func (pl *podTopologySpread) Score(state *CycleState, _ *corev1.Pod, n *NodeInfo) int64 {
	s := state.data[pl.Name()].(*spreadState)
	soft := &s.soft
	if len(soft.constraints) == 0 {
		return 0
	}
	if !soft.anyKey && !soft.hasKeys(n.Node) || soft.anyKey && !soft.hasAnyKey(n.Node) {
		if s.softIgnored == nil {
			s.softIgnored = map[string]bool{}
		}
		s.softIgnored[n.Node.Name] = true
		return 0
	}
	var score float64
	for i, c := range soft.constraints {
		if _, ok := n.Node.Labels[c.key]; !ok {
			continue
		}
		// Constraints over more domains weigh more, as upstream's log(domains+2).
		w := math.Log(float64(len(soft.counts[i]) + 2))
		score += float64(soft.counts[i][n.Node.Labels[c.key]])*w + float64(c.maxSkew-1)
	}
	return int64(math.Round(score))
}

// Normalize gives the emptiest domains the highest score; nodes without the keys
// get 0.
func (pl *podTopologySpread) Normalize(state *CycleState, nodes []*NodeInfo, scores []int64) {
	s := state.data[pl.Name()].(*spreadState)
	if len(s.soft.constraints) == 0 {
		return
	}
	var min, max int64 = math.MaxInt64, 0
	for i, n := range nodes {
		if s.softIgnored[n.Node.Name] {
			continue
		}
		if scores[i] < min {
			min = scores[i]
		}
		if scores[i] > max {
			max = scores[i]
		}
	}
	for i, n := range nodes {
		switch {
		case s.softIgnored[n.Node.Name]:
			scores[i] = 0
		case max == 0:
			scores[i] = MaxNodeScore
		default:
			scores[i] = MaxNodeScore * (max + min - scores[i]) / max
		}
	}
}

// systemDefaults are upstream's default constraints for a pod without its own:
// spread over nodes (maxSkew 3) and zones (maxSkew 5), ScheduleAnyway, counting the
// pods selected by the Services, ReplicationControllers, ReplicaSets and
// StatefulSets that select this pod. A pod nothing selects is not spread.
func (pl *podTopologySpread) systemDefaults(pod *corev1.Pod) spreadCounts {
	sel := pl.defaultSelector(pod)
	if sel.Empty() {
		return spreadCounts{}
	}
	c := func(key string, skew int32) spreadConstraint {
		return spreadConstraint{maxSkew: skew, key: key, minDomains: 1, selector: sel, honorAffinity: true, selfMatch: sel.Matches(labels.Set(pod.Labels))}
	}
	return spreadCounts{constraints: []spreadConstraint{c(corev1.LabelHostname, 3), c(corev1.LabelTopologyZone, 5)}, anyKey: true}
}

// defaultSelector joins the selectors of everything that selects the pod.
func (pl *podTopologySpread) defaultSelector(pod *corev1.Pod) labels.Selector {
	sel := labels.NewSelector()
	if pl.services == nil {
		return sel
	}
	podLabels := labels.Set(pod.Labels)
	add := func(s labels.Selector) {
		if !s.Empty() && s.Matches(podLabels) {
			reqs, _ := s.Requirements()
			sel = sel.Add(reqs...)
		}
	}
	if svcs, err := pl.services.Services(pod.Namespace).List(labels.Everything()); err == nil {
		for _, svc := range svcs {
			if len(svc.Spec.Selector) > 0 {
				add(labels.SelectorFromSet(svc.Spec.Selector))
			}
		}
	}
	if rcs, err := pl.controllers.ReplicationControllers(pod.Namespace).List(labels.Everything()); err == nil {
		for _, rc := range rcs {
			if len(rc.Spec.Selector) > 0 {
				add(labels.SelectorFromSet(rc.Spec.Selector))
			}
		}
	}
	addLS := func(ls *metav1.LabelSelector) {
		if s, err := metav1.LabelSelectorAsSelector(ls); err == nil {
			add(s)
		}
	}
	if rss, err := pl.replicaSets.ReplicaSets(pod.Namespace).List(labels.Everything()); err == nil {
		for _, rs := range rss {
			addLS(rs.Spec.Selector)
		}
	}
	if sss, err := pl.statefulSet.StatefulSets(pod.Namespace).List(labels.Everything()); err == nil {
		for _, ss := range sss {
			addLS(ss.Spec.Selector)
		}
	}
	return sel
}
