package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Reasons of InterPodAffinity, in upstream's words.
const (
	reasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
	reasonAffinity             = "node(s) didn't match pod affinity rules"
	reasonAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
)

// hardPodAffinityWeight is what an existing pod's required affinity to the incoming
// pod adds to the score (upstream's default).
const hardPodAffinityWeight = 1

// affinityTerm is a parsed pod (anti-)affinity term of one pod.
type affinityTerm struct {
	selector    labels.Selector
	namespaces  sets.Set[string]
	nsSelector  labels.Selector
	topologyKey string
	weight      int64
}

// podAffinityTerms are a pod's parsed terms, kept in its PodInfo.
type podAffinityTerms struct {
	required, requiredAnti   []affinityTerm
	preferred, preferredAnti []affinityTerm
}

func parseAffinity(pod *corev1.Pod) *podAffinityTerms {
	a := pod.Spec.Affinity
	if a == nil || (a.PodAffinity == nil && a.PodAntiAffinity == nil) {
		return nil
	}
	t := &podAffinityTerms{}
	if pa := a.PodAffinity; pa != nil {
		t.required = parseTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, 0)
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			t.preferred = append(t.preferred, parseTerms(pod, []corev1.PodAffinityTerm{w.PodAffinityTerm}, int64(w.Weight))...)
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		t.requiredAnti = parseTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, 0)
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			t.preferredAnti = append(t.preferredAnti, parseTerms(pod, []corev1.PodAffinityTerm{w.PodAffinityTerm}, int64(w.Weight))...)
		}
	}
	return t
}

// parseTerms resolves the namespaces a term applies to (the pod's own when it names
// none) and folds matchLabelKeys and mismatchLabelKeys into the selector with the
// owning pod's values.
func parseTerms(pod *corev1.Pod, terms []corev1.PodAffinityTerm, weight int64) []affinityTerm {
	out := make([]affinityTerm, 0, len(terms))
	for _, term := range terms {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			sel = labels.Nothing()
		}
		for _, k := range term.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, selection.In, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		for _, k := range term.MismatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, selection.NotIn, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		at := affinityTerm{selector: sel, namespaces: sets.New(term.Namespaces...), topologyKey: term.TopologyKey, weight: weight}
		if term.NamespaceSelector != nil {
			if ns, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector); err == nil {
				at.nsSelector = ns
			}
		} else if len(term.Namespaces) == 0 {
			at.namespaces.Insert(pod.Namespace)
		}
		out = append(out, at)
	}
	return out
}

// nsLabels returns a namespace's labels (nil when unknown).
type nsLabels func(ns string) labels.Set

func (t *affinityTerm) matches(p *corev1.Pod, nsl nsLabels) bool {
	if !t.namespaces.Has(p.Namespace) {
		if t.nsSelector == nil || !t.nsSelector.Matches(nsl(p.Namespace)) {
			return false
		}
	}
	return t.selector.Matches(labels.Set(p.Labels))
}

type topologyPair struct{ key, value string }

// interPodAffinity applies required pod affinity and anti-affinity (the incoming
// pod's and the existing pods') as a filter, and preferred terms as a score.
type interPodAffinity struct {
	namespaces corelisters.NamespaceLister
}

func (interPodAffinity) Name() string { return "InterPodAffinity" }

func (pl interPodAffinity) nsLabels(ns string) labels.Set {
	if pl.namespaces == nil {
		return nil
	}
	n, err := pl.namespaces.Get(ns)
	if err != nil {
		return nil
	}
	return n.Labels
}

type affinityState struct {
	terms *podAffinityTerms
	// existingAnti counts existing pods whose required anti-affinity matches the
	// incoming pod, per domain of the term.
	existingAnti map[topologyPair]int
	// affinity counts pods matching all the incoming pod's required affinity
	// terms; anti counts pods matching each required anti-affinity term.
	affinity, anti map[topologyPair]int
	// score is the preferred-term sum per domain, from PreScore.
	score map[topologyPair]int64
}

func (pl interPodAffinity) PreFilter(state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) *Status {
	s := &affinityState{terms: state.req.affinity(), existingAnti: map[topologyPair]int{}, affinity: map[topologyPair]int{}, anti: map[topologyPair]int{}}
	state.data[pl.Name()] = s
	hasTerms := s.terms != nil && (len(s.terms.required) > 0 || len(s.terms.requiredAnti) > 0)
	for _, n := range nodes {
		if !hasTerms && n.PodsWithAffinity == 0 {
			continue
		}
		for _, pi := range n.Pods {
			pl.count(s, pod, pi, n, 1)
		}
	}
	return nil
}

// count adds (delta 1) or removes (-1) what an existing pod on n contributes.
func (pl interPodAffinity) count(s *affinityState, pod *corev1.Pod, pi *PodInfo, n *NodeInfo, delta int) {
	if et := pi.affinity(); et != nil {
		for i := range et.requiredAnti {
			t := &et.requiredAnti[i]
			if v, ok := n.Node.Labels[t.topologyKey]; ok && t.matches(pod, pl.nsLabels) {
				s.existingAnti[topologyPair{t.topologyKey, v}] += delta
			}
		}
	}
	if s.terms == nil {
		return
	}
	if len(s.terms.required) > 0 {
		all := true
		for i := range s.terms.required {
			if !s.terms.required[i].matches(pi.Pod, pl.nsLabels) {
				all = false
				break
			}
		}
		if all {
			for _, t := range s.terms.required {
				if v, ok := n.Node.Labels[t.topologyKey]; ok {
					s.affinity[topologyPair{t.topologyKey, v}] += delta
				}
			}
		}
	}
	for i := range s.terms.requiredAnti {
		t := &s.terms.requiredAnti[i]
		if v, ok := n.Node.Labels[t.topologyKey]; ok && t.matches(pi.Pod, pl.nsLabels) {
			s.anti[topologyPair{t.topologyKey, v}] += delta
		}
	}
}

func (pl interPodAffinity) Filter(state *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	s := state.data[pl.Name()].(*affinityState)
	for pair, c := range s.existingAnti {
		if v, ok := n.Node.Labels[pair.key]; ok && v == pair.value && c > 0 {
			return unschedulable(reasonExistingAntiAffinity)
		}
	}
	if s.terms == nil {
		return nil
	}
	if len(s.terms.required) > 0 && !pl.affinityFits(s, pod, n) {
		return unresolvable(reasonAffinity)
	}
	for _, t := range s.terms.requiredAnti {
		if v, ok := n.Node.Labels[t.topologyKey]; ok && s.anti[topologyPair{t.topologyKey, v}] > 0 {
			return unschedulable(reasonAntiAffinity)
		}
	}
	return nil
}

// affinityFits: every required term has a matching pod in the node's domain; or,
// when no pod anywhere matches and the pod matches its own terms, the first pod of
// a group may go to any node with the keys.
func (pl interPodAffinity) affinityFits(s *affinityState, pod *corev1.Pod, n *NodeInfo) bool {
	ok := true
	for _, t := range s.terms.required {
		v, has := n.Node.Labels[t.topologyKey]
		if !has {
			return false
		}
		if s.affinity[topologyPair{t.topologyKey, v}] <= 0 {
			ok = false
		}
	}
	if ok {
		return true
	}
	for _, c := range s.affinity {
		if c > 0 {
			return false
		}
	}
	for i := range s.terms.required {
		if !s.terms.required[i].matches(pod, pl.nsLabels) {
			return false
		}
	}
	return true
}

func (pl interPodAffinity) updatePod(state *CycleState, pod *corev1.Pod, victim *PodInfo, n *NodeInfo, delta int) {
	if s, ok := state.data[pl.Name()].(*affinityState); ok {
		pl.count(s, pod, victim, n, delta)
	}
}

func (s *affinityState) clone() any {
	c := *s
	c.existingAnti, c.affinity, c.anti = cloneCounts(s.existingAnti), cloneCounts(s.affinity), cloneCounts(s.anti)
	return &c
}

func cloneCounts(m map[topologyPair]int) map[topologyPair]int {
	c := make(map[topologyPair]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// PreScore sums, per domain, the incoming pod's preferred terms over the pods they
// match, and the existing pods' terms that match the incoming pod.
func (pl interPodAffinity) PreScore(state *CycleState, pod *corev1.Pod, _ []*NodeInfo) {
	s := state.data[pl.Name()].(*affinityState)
	s.score = map[topologyPair]int64{}
	hasPreferred := s.terms != nil && (len(s.terms.preferred) > 0 || len(s.terms.preferredAnti) > 0)
	// Existing pods anywhere in a domain count, so every node is walked.
	for _, n := range pl.allNodes(state) {
		if !hasPreferred && n.PodsWithAffinity == 0 {
			continue
		}
		for _, pi := range n.Pods {
			if hasPreferred {
				pl.addScores(s.score, s.terms.preferred, pi.Pod, n, 1)
				pl.addScores(s.score, s.terms.preferredAnti, pi.Pod, n, -1)
			}
			if et := pi.affinity(); et != nil {
				for _, t := range et.required {
					if v, ok := n.Node.Labels[t.topologyKey]; ok && t.matches(pod, pl.nsLabels) {
						s.score[topologyPair{t.topologyKey, v}] += hardPodAffinityWeight
					}
				}
				pl.addScores(s.score, et.preferred, pod, n, 1)
				pl.addScores(s.score, et.preferredAnti, pod, n, -1)
			}
		}
	}
}

func (pl interPodAffinity) allNodes(state *CycleState) []*NodeInfo { return state.nodes }

func (pl interPodAffinity) addScores(score map[topologyPair]int64, terms []affinityTerm, p *corev1.Pod, n *NodeInfo, sign int64) {
	for i := range terms {
		t := &terms[i]
		if v, ok := n.Node.Labels[t.topologyKey]; ok && t.matches(p, pl.nsLabels) {
			score[topologyPair{t.topologyKey, v}] += sign * t.weight
		}
	}
}

func (pl interPodAffinity) Score(state *CycleState, _ *corev1.Pod, n *NodeInfo) int64 {
	s := state.data[pl.Name()].(*affinityState)
	var total int64
	for pair, v := range s.score {
		if nv, ok := n.Node.Labels[pair.key]; ok && nv == pair.value {
			total += v
		}
	}
	return total
}

// Normalize maps the scores, which may be negative, onto 0..MaxNodeScore.
func (interPodAffinity) Normalize(_ *CycleState, _ []*NodeInfo, scores []int64) {
	if len(scores) == 0 {
		return
	}
	min, max := scores[0], scores[0]
	for _, s := range scores {
		if s < min {
			min = s
		}
		if s > max {
			max = s
		}
	}
	for i, s := range scores {
		if max > min {
			scores[i] = MaxNodeScore * (s - min) / (max - min)
		} else {
			scores[i] = 0
		}
	}
}
