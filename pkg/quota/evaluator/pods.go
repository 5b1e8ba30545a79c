package evaluator

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/kubectl/pkg/util/qos"
)

var podResources = []corev1.ResourceName{
	corev1.ResourcePods, count(corev1.Resource("pods")),
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
}

// requiredPerContainer are the names a quota may limit only if every container states
// them: upstream keeps this for compatibility, and for these names alone.
var requiredPerContainer = sets.New(corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory)

// NewPodEvaluator measures pods; now tells when a deleted pod's grace period ended.
func NewPodEvaluator(list generic.ListFuncByNamespace, now func() time.Time) quota.Evaluator {
	return &evaluator{gr: corev1.Resource("pods"), names: podResources,
		prefixes:    []string{corev1.ResourceHugePagesPrefix, corev1.ResourceRequestsHugePagesPrefix},
		matchesName: isExtendedResourceNameForQuota,
		list:        list, usage: PodUsage, matchesFn: podMatchesScope, now: now,
		handles: func(a admission.Attributes) bool {
			switch a.GetSubresource() {
			case "":
				return a.GetOperation() == admission.Create
			case "resize":
				return a.GetOperation() == admission.Update
			}
			return false
		},
		constraints: podConstraints,
	}
}

// podCounts is upstream's QuotaV1Pod: a finished pod, or one past its deletion
// grace period, no longer uses quota.
func podCounts(p *corev1.Pod, now time.Time) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil {
		end := p.DeletionTimestamp.Add(time.Duration(*p.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// PodUsage is what a pod uses: count/pods while it is stored, and pods with its
// compute resources while it has not finished.
func PodUsage(obj runtime.Object, now time.Time) corev1.ResourceList {
	p := obj.(*corev1.Pod)
	out := corev1.ResourceList{count(corev1.Resource("pods")): one()}
	if !podCounts(p, now) {
		return out
	}
	opts := resourcehelper.PodResourcesOptions{UseStatusResources: true}
	return quota.Add(out, computeUsage(resourcehelper.PodRequests(p, opts), resourcehelper.PodLimits(p, opts)))
}

// computeUsage turns requests and limits into quota names, as upstream's
// podComputeUsageHelper: cpu is both "cpu" and "requests.cpu".
func computeUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: one()}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := requests[name]; ok {
			out[name] = q
			out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+string(name))] = q
		}
		if q, ok := limits[name]; ok {
			out[corev1.ResourceName("limits."+string(name))] = q
		}
	}
	for name, q := range requests {
		if strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
			out[name] = q
		}
		if strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) || isExtendedResourceName(name) {
			out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+string(name))] = q
		}
	}
	return out
}

// isExtendedResourceName: a resource outside the kubernetes.io domain, such as
// example.com/gpu.
func isExtendedResourceName(name corev1.ResourceName) bool {
	s := string(name)
	return strings.Contains(s, "/") && !strings.Contains(s, corev1.ResourceDefaultNamespacePrefix) &&
		!strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix)
}

// isExtendedResourceNameForQuota: quotas limit extended resources as requests.<name>.
func isExtendedResourceNameForQuota(name corev1.ResourceName) bool {
	s, ok := strings.CutPrefix(string(name), corev1.DefaultResourceRequestsPrefix)
	return ok && isExtendedResourceName(corev1.ResourceName(s))
}

// podConstraints refuses a pod a quota of cpu or memory cannot measure: one with a
// container that does not state that resource.
func podConstraints(required []corev1.ResourceName, obj runtime.Object) error {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return fmt.Errorf("unexpected input object %v", obj)
	}
	want := sets.New(required...).Intersection(requiredPerContainer)
	if want.Len() == 0 {
		return nil
	}
	missing := map[corev1.ResourceName]sets.Set[string]{}
	check := func(who string, r corev1.ResourceRequirements) {
		has := sets.KeySet(computeUsage(r.Requests, r.Limits))
		for _, name := range want.Difference(has).UnsortedList() {
			if missing[name] == nil {
				missing[name] = sets.New[string]()
			}
			missing[name].Insert(who)
		}
	}
	if r := p.Spec.Resources; r != nil && (len(r.Requests) > 0 || len(r.Limits) > 0) {
		// Pod-level resources state the pod's needs for all its containers.
		check("pod", *r)
	} else {
		for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
			check(c.Name, c.Resources)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var msgs []string
	for _, name := range slices.Sorted(func(yield func(corev1.ResourceName) bool) {
		for n := range missing {
			if !yield(n) {
				return
			}
		}
	}) {
		msgs = append(msgs, fmt.Sprintf("%s for: %s", name, strings.Join(sets.List(missing[name]), ",")))
	}
	return fmt.Errorf("must specify %s", strings.Join(msgs, "; "))
}

// podMatchesScope is upstream's pod scope evaluation.
func podMatchesScope(s corev1.ScopedResourceSelectorRequirement, obj runtime.Object) (bool, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return false, fmt.Errorf("unexpected object %T", obj)
	}
	terminating := p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds >= 0
	bestEffort := qos.GetPodQOS(p) == corev1.PodQOSBestEffort
	switch s.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return terminating, nil
	case corev1.ResourceQuotaScopeNotTerminating:
		return !terminating, nil
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort, nil
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort, nil
	case corev1.ResourceQuotaScopePriorityClass:
		return selectorMatches(s, p.Spec.PriorityClassName)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return usesCrossNamespaceAffinity(p), nil
	}
	return false, nil
}

// selectorMatches evaluates a scope selector against the scope's value, as
// upstream does with a label selector over {scopeName: value}.
func selectorMatches(s corev1.ScopedResourceSelectorRequirement, value string) (bool, error) {
	var op string
	switch s.Operator {
	case corev1.ScopeSelectorOpIn:
		op = "in"
	case corev1.ScopeSelectorOpNotIn:
		op = "notin"
	case corev1.ScopeSelectorOpExists:
		return true, nil
	case corev1.ScopeSelectorOpDoesNotExist:
		return false, nil
	default:
		return false, fmt.Errorf("%q is not a valid scope selector operator", s.Operator)
	}
	sel, err := labels.Parse(fmt.Sprintf("%s %s (%s)", s.ScopeName, op, strings.Join(s.Values, ",")))
	if err != nil {
		return false, err
	}
	return sel.Matches(labels.Set{string(s.ScopeName): value}), nil
}

func usesCrossNamespaceAffinity(p *corev1.Pod) bool {
	a := p.Spec.Affinity
	if a == nil {
		return false
	}
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, t := range terms {
		if len(t.Namespaces) > 0 || t.NamespaceSelector != nil {
			return true
		}
	}
	return false
}
