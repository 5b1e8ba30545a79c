package namespace

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
)

// conditionTypes are the namespace conditions the controller maintains, each set
// to its "ok" variant when nothing is wrong, as upstream.
var conditionTypes = []corev1.NamespaceConditionType{
	corev1.NamespaceDeletionDiscoveryFailure,
	corev1.NamespaceDeletionGVParsingFailure,
	corev1.NamespaceDeletionContentFailure,
	corev1.NamespaceContentRemaining,
	corev1.NamespaceFinalizersRemaining,
}

var okConditions = map[corev1.NamespaceConditionType][2]string{ // reason, message
	corev1.NamespaceDeletionDiscoveryFailure: {"ResourcesDiscovered", "All resources successfully discovered"},
	corev1.NamespaceDeletionGVParsingFailure: {"ParsedGroupVersions", "All legacy kube types successfully parsed"},
	corev1.NamespaceDeletionContentFailure:   {"ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	corev1.NamespaceContentRemaining:         {"ContentRemoved", "All content successfully removed"},
	corev1.NamespaceFinalizersRemaining:      {"ContentRemoved", "All content successfully removed"},
}

// conditions collects the failing conditions of one pass.
type conditions struct {
	failing     []corev1.NamespaceCondition
	contentErrs []error
}

func (c *conditions) add(t corev1.NamespaceConditionType, reason, msg string) {
	c.failing = append(c.failing, corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue,
		LastTransitionTime: metav1.Now(), Reason: reason, Message: msg})
}

func (c *conditions) discoveryFailed(err error) {
	msg := err.Error()
	var gdf *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &gdf) {
		msg = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(gdf.Groups), err)
	}
	c.add(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", msg)
}

func (c *conditions) contentTotals(left remaining) {
	if len(left.byResource) > 0 {
		var rs []string
		for gr, n := range left.byResource {
			rs = append(rs, fmt.Sprintf("%s.%s has %d resource instances", gr.Resource, gr.Group, n))
		}
		sort.Strings(rs)
		c.add(corev1.NamespaceContentRemaining, "SomeResourcesRemain", "Some resources are remaining: "+strings.Join(rs, ", "))
	}
	if len(left.byFinalizer) > 0 {
		var fs []string
		for f, n := range left.byFinalizer {
			fs = append(fs, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		sort.Strings(fs)
		c.add(corev1.NamespaceFinalizersRemaining, "SomeFinalizerRemain", "Some finalizers are remaining: "+strings.Join(fs, ", "))
	}
}

// update writes the conditions into status, reporting whether anything changed.
func (c *conditions) update(status *corev1.NamespaceStatus) bool {
	if len(c.contentErrs) > 0 {
		msgs := make([]string, 0, len(c.contentErrs))
		for _, e := range c.contentErrs {
			msgs = append(msgs, e.Error())
		}
		sort.Strings(msgs)
		c.add(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(msgs), strings.Join(msgs, ", ")))
	}
	changed := false
	for _, t := range conditionTypes {
		want := find(c.failing, t)
		if want == nil {
			ok := okConditions[t]
			want = &corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now(), Reason: ok[0], Message: ok[1]}
		}
		old := find(status.Conditions, t)
		switch {
		case old == nil:
			status.Conditions = append(status.Conditions, *want)
			changed = true
		case old.Status != want.Status || old.Reason != want.Reason || old.Message != want.Message:
			if old.Status != want.Status {
				old.LastTransitionTime = metav1.Now()
			}
			old.Status, old.Reason, old.Message = want.Status, want.Reason, want.Message
			changed = true
		}
	}
	return changed
}

func find(cs []corev1.NamespaceCondition, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}
