package namespace

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// finalizerEstimateSeconds is how long upstream assumes finalizers on remaining
// content take before it looks again.
const finalizerEstimateSeconds int64 = 15

// ResourcesRemainingError says that content is still being removed, and roughly
// for how long.
type ResourcesRemainingError struct {
	Estimate int64
}

func (e *ResourcesRemainingError) Error() string {
	return fmt.Sprintf("some content remains in the namespace, estimate %d seconds before it is removed", e.Estimate)
}

// remaining counts what deleting a namespace's content left behind.
type remaining struct {
	byResource  map[schema.GroupResource]int
	byFinalizer map[string]int
}

// delete is upstream's namespaced-resources deleter: Terminating phase, content,
// conditions, then the finalizer.
func (nc *Controller) delete(ctx context.Context, ns *corev1.Namespace) error {
	if ns.DeletionTimestamp == nil {
		return nil
	}
	ns, err := nc.retryOnConflict(ctx, ns, func(ns *corev1.Namespace) (*corev1.Namespace, error) {
		if ns.Status.Phase == corev1.NamespaceTerminating {
			return ns, nil
		}
		ns.Status.Phase = corev1.NamespaceTerminating
		return nc.c.Client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{})
	})
	if err != nil {
		return ignoreNotFound(err)
	}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}
	estimate, err := nc.deleteAllContent(ctx, ns)
	if err != nil {
		return err
	}
	if estimate > 0 {
		return &ResourcesRemainingError{Estimate: estimate}
	}
	_, err = nc.retryOnConflict(ctx, ns, func(ns *corev1.Namespace) (*corev1.Namespace, error) {
		ns.Spec.Finalizers = slices.DeleteFunc(slices.Clone(ns.Spec.Finalizers), func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
		return nc.c.Client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	})
	return ignoreNotFound(err)
}

// retryOnConflict applies fn to the namespace, re-reading it after a conflict,
// and fails if it was re-created meanwhile.
func (nc *Controller) retryOnConflict(ctx context.Context, ns *corev1.Namespace, fn func(*corev1.Namespace) (*corev1.Namespace, error)) (*corev1.Namespace, error) {
	cur := ns
	var out *corev1.Namespace
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		out, err = fn(cur.DeepCopy())
		if !apierrors.IsConflict(err) {
			return err
		}
		fresh, gerr := nc.c.Client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if fresh.UID != ns.UID {
			return fmt.Errorf("namespace uid has changed across retries")
		}
		cur = fresh
		return err
	})
	return out, err
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// deleteAllContent deletes every namespaced resource of ns and records the
// outcome in its conditions; it returns how long the remaining content should
// take to go.
func (nc *Controller) deleteAllContent(ctx context.Context, ns *corev1.Namespace) (int64, error) {
	var errs []error
	var conds conditions
	nc.discovery.Invalidate()
	resources, failed, err := controllers.PreferredResources(nc.discovery, "delete")
	switch {
	case err != nil:
		errs = append(errs, err)
		conds.discoveryFailed(err)
	case len(failed) > 0:
		err := &discovery.ErrGroupDiscoveryFailed{Groups: failed}
		errs = append(errs, err)
		conds.discoveryFailed(err)
	}
	left := remaining{byResource: map[schema.GroupResource]int{}, byFinalizer: map[string]int{}}
	var estimate int64
	for _, r := range resources {
		if !r.Namespaced {
			continue
		}
		e, err := nc.deleteAllContentFor(ctx, r, ns, &left)
		if err != nil {
			errs = append(errs, err)
			conds.contentErrs = append(conds.contentErrs, err)
		}
		estimate = max(estimate, e)
	}
	conds.contentTotals(left)
	if conds.update(&ns.Status) {
		if _, err := nc.c.Client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, err)
		}
	}
	klog.FromContext(ctx).V(4).Info("Deleted namespace content", "namespace", ns.Name, "estimate", estimate, "errors", len(errs))
	return estimate, utilerrors.NewAggregate(errs)
}

// deleteAllContentFor deletes every object of one resource in ns (as a collection
// when the resource allows it), then counts what is left.
func (nc *Controller) deleteAllContentFor(ctx context.Context, r controllers.APIResource, ns *corev1.Namespace, left *remaining) (int64, error) {
	estimate, err := nc.estimateGracefulTermination(ctx, r.GroupVersionResource, ns)
	if err != nil {
		return estimate, err
	}
	client := nc.c.Metadata.Resource(r.GroupVersionResource).Namespace(ns.Name)
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	deleted := false
	if r.Supports("deletecollection") {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
			deleted = true
		case !apierrors.IsMethodNotSupported(err) && !apierrors.IsNotFound(err):
			return estimate, err
		}
	}
	if !r.Supports("list") {
		return estimate, nil
	}
	if !deleted {
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			return estimate, ignoreUnsupported(err)
		}
		for _, item := range list.Items {
			if item.DeletionTimestamp != nil {
				continue
			}
			if err := client.Delete(ctx, item.Name, opts); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
				return estimate, err
			}
		}
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if err != nil {
		return estimate, ignoreUnsupported(err)
	}
	if len(list.Items) == 0 {
		return estimate, nil
	}
	left.byResource[r.GroupResource()] += len(list.Items)
	withFinalizers := false
	for _, item := range list.Items {
		for _, f := range item.Finalizers {
			left.byFinalizer[f]++
			withFinalizers = true
		}
	}
	if estimate > 0 {
		return estimate, nil
	}
	if withFinalizers {
		return finalizerEstimateSeconds, nil
	}
	return estimate, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", ns.Name, r.GroupVersionResource)
}

func ignoreUnsupported(err error) error {
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// estimateGracefulTermination is, for pods, the longest grace period of the
// namespace's running pods less the time since the namespace was deleted; other
// resources delete at once.
func (nc *Controller) estimateGracefulTermination(ctx context.Context, gvr schema.GroupVersionResource, ns *corev1.Namespace) (int64, error) {
	if gvr.Group != "" || gvr.Resource != "pods" {
		return 0, nil
	}
	pods, err := nc.c.Client.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	var estimate int64
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil && *g > estimate {
			estimate = *g
		}
	}
	estimate -= int64(time.Since(ns.DeletionTimestamp.Time).Seconds())
	return max(estimate, 0), nil
}
