package workload

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// ValidateSelectedTemplate checks what deployments, replica sets and stateful sets ask
// of their selector and pod template, in upstream's order: a required, non-empty
// selector (selectorKind in the message), that selects the template's labels, a valid
// pod template, and one fit for a long-running controller (controllerKind in the message).
func ValidateSelectedTemplate(sel *metav1.LabelSelector, t *corev1.PodTemplateSpec, selectorKind, controllerKind string, p *field.Path) field.ErrorList {
	errs := ValidateSelector(sel, selectorKind, p.Child("selector"))
	errs = append(errs, ValidateSelectorMatchesLabels(sel, t.Labels, p.Child("template", "metadata", "labels"))...)
	errs = append(errs, pod.ValidatePodTemplateSpec(t, p.Child("template"))...)
	return append(errs, ValidateTemplateForController(t, controllerKind, p.Child("template"))...)
}

// ReplicasScale is the scale subresource of a resource with spec.replicas (unset counts
// as 1), status.replicas and a selector; replicas returns where spec.replicas is kept
// and the other two.
func ReplicasScale(replicas func(obj runtime.Object) (spec **int32, status int32, sel *metav1.LabelSelector)) *store.Scale {
	return &store.Scale{
		Get: func(obj runtime.Object) (int32, int32, string) {
			spec, status, sel := replicas(obj)
			return Int32(*spec, 1), status, SelectorString(sel)
		},
		Set: func(obj runtime.Object, n int32) {
			spec, _, _ := replicas(obj)
			*spec = &n
		},
	}
}
