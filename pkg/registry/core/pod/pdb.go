package pod

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
)

// maxDisruptedPods bounds status.disruptedPods, as upstream does, so that evictions the
// disruption controller has not confirmed cannot pile up.
const maxDisruptedPods = 2000

var pdbResource = schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}

// pdbStore reads PodDisruptionBudgets and records evictions in their status, straight
// in storage, as upstream's eviction does through the PDB client.
type pdbStore struct {
	s      storage.Interface
	prefix string
}

// NewPDBChecker returns the disruption budget check of pods/eviction over the storage
// of poddisruptionbudgets.
func NewPDBChecker(getter generic.RESTOptionsGetter) (PDBChecker, error) {
	o, err := getter.GetRESTOptions(pdbResource, &policyv1.PodDisruptionBudget{})
	if err != nil {
		return nil, fmt.Errorf("poddisruptionbudgets storage: %w", err)
	}
	prefix := o.ResourcePrefix
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	s, _, err := generic.NewRawStorage(o.StorageConfig,
		func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} }, prefix)
	if err != nil {
		return nil, fmt.Errorf("poddisruptionbudgets storage: %w", err)
	}
	return &pdbStore{s: s, prefix: prefix}, nil
}

func isPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// CheckEviction implements PDBChecker with upstream's rules and messages.
func (d *pdbStore) CheckEviction(ctx context.Context, p *corev1.Pod, dryRun bool) error {
	list := &policyv1.PodDisruptionBudgetList{}
	if err := d.s.GetList(ctx, d.prefix+"/"+p.Namespace+"/", storage.ListOptions{Recursive: true, Predicate: storage.Everything}, list); err != nil {
		return err
	}
	var matching []policyv1.PodDisruptionBudget
	for _, pdb := range list.Items {
		if pdb.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		matching = append(matching, pdb)
	}
	switch len(matching) {
	case 0:
		return nil
	case 1:
	default:
		return apierrors.NewInternalError(fmt.Errorf("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
	}
	pdb := matching[0]
	if !isPodReady(p) {
		if pdb.Spec.UnhealthyPodEvictionPolicy != nil && *pdb.Spec.UnhealthyPodEvictionPolicy == policyv1.AlwaysAllow {
			return nil
		}
		if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
			return nil
		}
	}
	key := d.prefix + "/" + pdb.Namespace + "/" + pdb.Name
	return d.s.GuaranteedUpdate(ctx, key, &policyv1.PodDisruptionBudget{}, false, nil, func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
		cur := obj.(*policyv1.PodDisruptionBudget)
		if cur.Status.ObservedGeneration < cur.Generation {
			return nil, nil, tooManyRequests(fmt.Sprintf("The disruption budget %s is still being processed by the server.", cur.Name))
		}
		if cur.Status.DisruptionsAllowed < 0 {
			return nil, nil, apierrors.NewForbidden(pdbResource, cur.Name, fmt.Errorf("pdb disruptions allowed is negative"))
		}
		if len(cur.Status.DisruptedPods) > maxDisruptedPods {
			return nil, nil, apierrors.NewForbidden(pdbResource, cur.Name, fmt.Errorf("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
		}
		if cur.Status.DisruptionsAllowed == 0 {
			return nil, nil, tooManyRequests(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", cur.Name, cur.Status.DesiredHealthy, cur.Status.CurrentHealthy))
		}
		if dryRun {
			return nil, nil, errDryRunDone
		}
		cur.Status.DisruptionsAllowed--
		if cur.Status.DisruptedPods == nil {
			cur.Status.DisruptedPods = map[string]metav1.Time{}
		}
		cur.Status.DisruptedPods[p.Name] = metav1.NewTime(time.Now())
		return cur, nil, nil
	}, nil)
}

// errDryRunDone ends a dry-run budget check that would have succeeded without writing.
var errDryRunDone = fmt.Errorf("dry run")

func tooManyRequests(cause string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	return err
}
