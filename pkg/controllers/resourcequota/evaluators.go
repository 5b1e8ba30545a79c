package resourcequota

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/kubectl/pkg/util/qos"
)

// evaluator is a quota.Evaluator for the controller's side of quota: what a kind of
// object uses and which quota scopes it falls in. The admission-only methods
// (Constraints, Handles, MatchingScopes, UncoveredQuotaScopes) are minimal.
type evaluator struct {
	gr        schema.GroupResource
	names     []corev1.ResourceName
	prefixes  []string // resource names matched by prefix or suffix (storage classes, hugepages)
	suffixes  []string
	list      generic.ListFuncByNamespace
	usage     func(obj runtime.Object, now time.Time) corev1.ResourceList
	matchesFn generic.MatchesScopeFunc
	now       func() time.Time
}

var _ quota.Evaluator = &evaluator{}

func (e *evaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }
func (e *evaluator) GroupResource() schema.GroupResource                     { return e.gr }
func (e *evaluator) Handles(a admission.Attributes) bool {
	return a.GetSubresource() == "" && (a.GetOperation() == admission.Create || a.GetOperation() == admission.Update)
}

func (e *evaluator) scope() generic.MatchesScopeFunc {
	if e.matchesFn != nil {
		return e.matchesFn
	}
	return generic.MatchesNoScopeFunc
}

func (e *evaluator) Matches(q *corev1.ResourceQuota, item runtime.Object) (bool, error) {
	return generic.Matches(q, item, e.MatchingResources, e.scope())
}

func (e *evaluator) MatchingScopes(item runtime.Object, scopes []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range scopes {
		if ok, err := e.scope()(s, item); err != nil {
			return nil, err
		} else if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

func (e *evaluator) UncoveredQuotaScopes(limited, matched []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return nil, nil
}

func (e *evaluator) MatchingResources(input []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range input {
		s := string(n)
		if slices.Contains(e.names, n) ||
			slices.ContainsFunc(e.prefixes, func(p string) bool { return strings.HasPrefix(s, p) }) ||
			slices.ContainsFunc(e.suffixes, func(p string) bool { return strings.HasSuffix(s, p) }) {
			out = append(out, n)
		}
	}
	return out
}

func (e *evaluator) Usage(item runtime.Object) (corev1.ResourceList, error) {
	return e.usage(item, e.now()), nil
}

func (e *evaluator) UsageStats(o quota.UsageStatsOptions) (quota.UsageStats, error) {
	return generic.CalculateUsageStats(o, e.list, e.scope(), e.Usage)
}

func one() resource.Quantity { return *resource.NewQuantity(1, resource.DecimalSI) }

func count(gr schema.GroupResource) corev1.ResourceName {
	return generic.ObjectCountQuotaResourceNameFor(gr)
}

// Pods: counts, requests and limits of the pods that still use resources.
var podResources = []corev1.ResourceName{
	corev1.ResourcePods, count(corev1.Resource("pods")),
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
}

func newPodEvaluator(list generic.ListFuncByNamespace) *evaluator {
	return &evaluator{gr: corev1.Resource("pods"), names: podResources,
		prefixes: []string{corev1.ResourceHugePagesPrefix, corev1.ResourceRequestsHugePagesPrefix, corev1.DefaultResourceRequestsPrefix},
		list:     list, usage: podUsage, matchesFn: podMatchesScope, now: time.Now}
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

func podUsage(obj runtime.Object, now time.Time) corev1.ResourceList {
	p := obj.(*corev1.Pod)
	out := corev1.ResourceList{}
	if !podCounts(p, now) {
		return out
	}
	out[corev1.ResourcePods] = one()
	out[count(corev1.Resource("pods"))] = one()
	requests := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
	limits := resourcehelper.PodLimits(p, resourcehelper.PodResourcesOptions{})
	for name, q := range requests {
		switch {
		case name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage:
			out[name] = q
			out[corev1.ResourceName("requests."+string(name))] = q
		case strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			out[corev1.ResourceName(corev1.ResourceRequestsHugePagesPrefix+strings.TrimPrefix(string(name), corev1.ResourceHugePagesPrefix))] = q
		case strings.Contains(string(name), "/"): // extended resources
			out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+string(name))] = q
		}
	}
	for name, q := range limits {
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage {
			out[corev1.ResourceName("limits."+string(name))] = q
		}
	}
	return out
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

// Services: counts, load balancers and node ports.
func newServiceEvaluator(list generic.ListFuncByNamespace) *evaluator {
	return &evaluator{gr: corev1.Resource("services"), list: list, now: time.Now,
		names: []corev1.ResourceName{corev1.ResourceServices, count(corev1.Resource("services")),
			corev1.ResourceServicesLoadBalancers, corev1.ResourceServicesNodePorts},
		usage: func(obj runtime.Object, _ time.Time) corev1.ResourceList {
			svc := obj.(*corev1.Service)
			out := corev1.ResourceList{corev1.ResourceServices: one(), count(corev1.Resource("services")): one()}
			nodePorts := 0
			switch svc.Spec.Type {
			case corev1.ServiceTypeNodePort:
				nodePorts = len(svc.Spec.Ports)
			case corev1.ServiceTypeLoadBalancer:
				out[corev1.ResourceServicesLoadBalancers] = one()
				if a := svc.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
					for _, p := range svc.Spec.Ports {
						if p.NodePort != 0 {
							nodePorts++
						}
					}
				} else {
					nodePorts = len(svc.Spec.Ports)
				}
			}
			out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(int64(nodePorts), resource.DecimalSI)
			return out
		}}
}

const storageClassSuffix = ".storageclass.storage.k8s.io/"

// PersistentVolumeClaims: counts and requested storage, in all and per class.
func newPVCEvaluator(list generic.ListFuncByNamespace) *evaluator {
	return &evaluator{gr: corev1.Resource("persistentvolumeclaims"), list: list, now: time.Now,
		names:    []corev1.ResourceName{corev1.ResourcePersistentVolumeClaims, count(corev1.Resource("persistentvolumeclaims")), corev1.ResourceRequestsStorage},
		suffixes: []string{storageClassSuffix + string(corev1.ResourcePersistentVolumeClaims), storageClassSuffix + string(corev1.ResourceRequestsStorage)},
		usage: func(obj runtime.Object, _ time.Time) corev1.ResourceList {
			pvc := obj.(*corev1.PersistentVolumeClaim)
			out := corev1.ResourceList{corev1.ResourcePersistentVolumeClaims: one(), count(corev1.Resource("persistentvolumeclaims")): one()}
			class := ""
			if pvc.Spec.StorageClassName != nil {
				class = *pvc.Spec.StorageClassName
			} else if c, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
				class = c
			}
			if class != "" {
				out[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = one()
			}
			if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
				out[corev1.ResourceRequestsStorage] = q
				if class != "" {
					out[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourceRequestsStorage))] = q
				}
			}
			return out
		}}
}

// newCountEvaluator counts objects of gr, also under its legacy name alias when set
// (configmaps, secrets, replicationcontrollers, resourcequotas).
func newCountEvaluator(gr schema.GroupResource, alias corev1.ResourceName, list generic.ListFuncByNamespace) quota.Evaluator {
	return generic.NewObjectCountEvaluator(gr, list, alias)
}
