package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

var (
	// unreachableTaint and notReadyTaint are the NoExecute taints that mirror
	// Ready=Unknown and Ready=False; the taint eviction controller acts on them.
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}

	// conditionTaints maps a node condition's status to the NoSchedule taint
	// that mirrors it, as upstream's nodeConditionToTaintKeyStatusMap.
	conditionTaints = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
		corev1.NodeReady: {
			corev1.ConditionFalse:   corev1.TaintNodeNotReady,
			corev1.ConditionUnknown: corev1.TaintNodeUnreachable,
		},
		corev1.NodeMemoryPressure:     {corev1.ConditionTrue: corev1.TaintNodeMemoryPressure},
		corev1.NodeDiskPressure:       {corev1.ConditionTrue: corev1.TaintNodeDiskPressure},
		corev1.NodeNetworkUnavailable: {corev1.ConditionTrue: corev1.TaintNodeNetworkUnavailable},
		corev1.NodePIDPressure:        {corev1.ConditionTrue: corev1.TaintNodePIDPressure},
	}
	// managedNoScheduleKeys are the NoSchedule taint keys this controller owns.
	managedNoScheduleKeys = map[string]bool{
		corev1.TaintNodeNotReady: true, corev1.TaintNodeUnreachable: true,
		corev1.TaintNodeMemoryPressure: true, corev1.TaintNodeDiskPressure: true,
		corev1.TaintNodeNetworkUnavailable: true, corev1.TaintNodePIDPressure: true,
		corev1.TaintNodeUnschedulable: true,
	}
	// labelReconcile are the beta labels kept equal to their GA labels.
	labelReconcile = []struct{ primary, secondary string }{
		{corev1.LabelOSStable, "beta.kubernetes.io/os"},
		{corev1.LabelArchStable, "beta.kubernetes.io/arch"},
	}
)

func hasTaint(taints []corev1.Taint, t corev1.Taint) bool {
	for i := range taints {
		if taints[i].MatchTaint(&t) {
			return true
		}
	}
	return false
}

// processTaintBaseEviction keeps a node's NoExecute taints in step with its Ready
// condition: not-ready for False, unreachable for Unknown (never both), none for
// True or while the whole cluster is disrupted.
func (nc *Controller) processTaintBaseEviction(ctx context.Context, node *corev1.Node, ready *corev1.NodeCondition, fullDisruption bool) {
	var add, remove []corev1.Taint
	switch {
	case fullDisruption || ready.Status == corev1.ConditionTrue:
		remove = []corev1.Taint{unreachableTaint, notReadyTaint}
	case ready.Status == corev1.ConditionFalse:
		add, remove = []corev1.Taint{notReadyTaint}, []corev1.Taint{unreachableTaint}
	case ready.Status == corev1.ConditionUnknown:
		add, remove = []corev1.Taint{unreachableTaint}, []corev1.Taint{notReadyTaint}
	}
	if !needsSwap(node.Spec.Taints, add, remove) {
		return
	}
	if err := nc.swapTaints(ctx, node.Name, add, remove); err != nil {
		klog.FromContext(ctx).Error(err, "Failed to update NoExecute taints; will retry in the next pass", "node", node.Name)
	}
}

func needsSwap(taints, add, remove []corev1.Taint) bool {
	for _, t := range add {
		if !hasTaint(taints, t) {
			return true
		}
	}
	for _, t := range remove {
		if hasTaint(taints, t) {
			return true
		}
	}
	return false
}

// swapTaints adds the taints of add a node lacks (stamped with timeAdded) and
// removes those of remove, re-reading the node on conflicts.
func (nc *Controller) swapTaints(ctx context.Context, nodeName string, add, remove []corev1.Taint) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		node, err := nc.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		var taints []corev1.Taint
		for _, t := range node.Spec.Taints {
			if !hasTaint(remove, t) {
				taints = append(taints, t)
			}
		}
		now := metav1.Now()
		for _, t := range add {
			if !hasTaint(taints, t) {
				t.TimeAdded = &now
				taints = append(taints, t)
			}
		}
		if len(taints) == len(node.Spec.Taints) && !needsSwap(node.Spec.Taints, add, remove) {
			return nil
		}
		node.Spec.Taints = taints
		_, err = nc.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// syncNode maps a node's conditions and spec.unschedulable to NoSchedule taints
// and reconciles its beta OS and arch labels.
func (nc *Controller) syncNode(ctx context.Context, name string) error {
	node, err := nc.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var want []corev1.Taint
	for _, c := range node.Status.Conditions {
		if key, ok := conditionTaints[c.Type][c.Status]; ok {
			want = append(want, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		want = append(want, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	var remove []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && managedNoScheduleKeys[t.Key] && !hasTaint(want, t) {
			remove = append(remove, t)
		}
	}
	if needsSwap(node.Spec.Taints, want, remove) {
		if err := nc.swapTaints(ctx, name, want, remove); err != nil {
			return fmt.Errorf("failed to swap NoSchedule taints of node %s: %w", name, err)
		}
	}
	return nc.reconcileLabels(ctx, node)
}

func (nc *Controller) reconcileLabels(ctx context.Context, node *corev1.Node) error {
	set := map[string]string{}
	for _, l := range labelReconcile {
		if v, ok := node.Labels[l.primary]; ok && node.Labels[l.secondary] != v {
			set[l.secondary] = v
		}
	}
	if len(set) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"labels": set}})
	if err != nil {
		return err
	}
	_, err = nc.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
