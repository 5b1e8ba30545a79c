// Package evaluator measures what Kubernetes objects use of a ResourceQuota, for both
// sides of quota: the resource quota controller (status.used of every quota) and the
// ResourceQuota admission plugin (refusing what would exceed a quota). It is upstream's
// pkg/quota/v1/evaluator/core, on k8s.io/apiserver's quota interfaces:
//
//   - pods: pods, count/pods, cpu, memory, ephemeral-storage, requests.* and limits.*
//     of them, hugepages and extended resources, within the pod scopes (Terminating,
//     NotTerminating, BestEffort, NotBestEffort, PriorityClass,
//     CrossNamespacePodAffinity); finished pods use only count/pods;
//
//   - services: services, count/services, services.loadbalancers, services.nodeports;
//
//   - persistentvolumeclaims: persistentvolumeclaims, requests.storage, and both per
//     storage class;
//
//   - configmaps, secrets, replicationcontrollers, resourcequotas: object counts under
//     their legacy names and count/<resource>.
//
//     registry := generic.NewRegistry([]quota.Evaluator{evaluator.NewPodEvaluator(listPods, time.Now)})
//     cfg := evaluator.NewConfigurationForAdmission()
package evaluator

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

// evaluator is a quota.Evaluator for one kind of object, described by its fields.
type evaluator struct {
	gr       schema.GroupResource
	names    []corev1.ResourceName
	prefixes []string // resource names matched by prefix or suffix (storage classes, hugepages)
	suffixes []string
	// matchesName matches names no list can hold (extended resources).
	matchesName func(corev1.ResourceName) bool
	list        generic.ListFuncByNamespace
	usage       func(obj runtime.Object, now time.Time) corev1.ResourceList
	matchesFn   generic.MatchesScopeFunc
	handles     func(admission.Attributes) bool
	constraints func(required []corev1.ResourceName, obj runtime.Object) error
	now         func() time.Time
}

var _ quota.Evaluator = &evaluator{}

func (e *evaluator) GroupResource() schema.GroupResource { return e.gr }

// Constraints checks that obj says what a quota limiting required needs to know.
func (e *evaluator) Constraints(required []corev1.ResourceName, obj runtime.Object) error {
	if e.constraints == nil {
		return nil
	}
	return e.constraints(required, obj)
}

// Handles reports whether a request can change the usage of this kind of object.
func (e *evaluator) Handles(a admission.Attributes) bool { return e.handles(a) }

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
	if e.matchesFn == nil {
		return []corev1.ScopedResourceSelectorRequirement{}, nil
	}
	out := []corev1.ScopedResourceSelectorRequirement{}
	for _, s := range scopes {
		ok, err := e.matchesFn(s, item)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// UncoveredQuotaScopes returns the limited scopes that no matched quota scope covers.
func (e *evaluator) UncoveredQuotaScopes(limited, matched []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	out := []corev1.ScopedResourceSelectorRequirement{}
	if e.matchesFn == nil {
		return out, nil
	}
	for _, l := range limited {
		if !slices.ContainsFunc(matched, func(m corev1.ScopedResourceSelectorRequirement) bool { return m.ScopeName == l.ScopeName }) {
			out = append(out, l)
		}
	}
	return out, nil
}

func (e *evaluator) MatchingResources(input []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range input {
		s := string(n)
		if slices.Contains(e.names, n) ||
			slices.ContainsFunc(e.prefixes, func(p string) bool { return strings.HasPrefix(s, p) }) ||
			slices.ContainsFunc(e.suffixes, func(p string) bool { return strings.HasSuffix(s, p) }) ||
			e.matchesName != nil && e.matchesName(n) {
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

// createOrUpdate is what most kinds handle: a create adds usage, an update (a
// service's type, a claim's size) can change it.
func createOrUpdate(a admission.Attributes) bool {
	return a.GetOperation() == admission.Create || a.GetOperation() == admission.Update
}
