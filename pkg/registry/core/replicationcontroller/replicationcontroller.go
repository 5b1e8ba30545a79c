// Package replicationcontroller serves core/v1 ReplicationControllers with their status
// and scale subresources: replicas default to 1 and the selector to the template's
// labels, and the selector must match the template.
package replicationcontroller

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is replicationcontrollers.
var Resource = &store.Resource{
	Name: "replicationcontrollers", Singular: "replicationcontroller", Namespaced: true,
	ShortNames: []string{"rc"}, Categories: []string{"all"},
	New:        func() runtime.Object { return &corev1.ReplicationController{} },
	NewList:    func() runtime.Object { return &corev1.ReplicationControllerList{} },
	Generation: true,
	Status:     true,
	Defaults: func(obj runtime.Object) {
		Default(obj.(*corev1.ReplicationController))
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.ReplicationController))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return ValidateStatus(&obj.(*corev1.ReplicationController).Status)
	},
	Fields: func(obj runtime.Object) fields.Set {
		return fields.Set{"status.replicas": strconv.Itoa(int(obj.(*corev1.ReplicationController).Status.Replicas))}
	},
	FieldLabels: []string{"status.replicas"},
	Scale: &store.Scale{
		Get: func(obj runtime.Object) (int32, int32, string) {
			rc := obj.(*corev1.ReplicationController)
			return replicas(rc), rc.Status.Replicas, labels.SelectorFromSet(rc.Spec.Selector).String()
		},
		Set: func(obj runtime.Object, n int32) { obj.(*corev1.ReplicationController).Spec.Replicas = &n },
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Desired", Type: "integer", Description: corev1.ReplicationControllerSpec{}.SwaggerDoc()["replicas"]},
		{Name: "Current", Type: "integer", Description: corev1.ReplicationControllerStatus{}.SwaggerDoc()["replicas"]},
		{Name: "Ready", Type: "integer", Description: corev1.ReplicationControllerStatus{}.SwaggerDoc()["readyReplicas"]},
		store.AgeColumn,
		store.Wide(metav1.TableColumnDefinition{Name: "Containers", Type: "string", Description: "Names of each container in the template."}),
		store.Wide(metav1.TableColumnDefinition{Name: "Images", Type: "string", Description: "Images referenced by each container in the template."}),
		store.Wide(metav1.TableColumnDefinition{Name: "Selector", Type: "string", Description: corev1.ReplicationControllerSpec{}.SwaggerDoc()["selector"]}),
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*corev1.ReplicationController)) },
}

func replicas(rc *corev1.ReplicationController) int32 {
	if rc.Spec.Replicas == nil {
		return 1
	}
	return *rc.Spec.Replicas
}

// Default fills replicas (1), the selector and labels from the template's labels, and
// the template's pod defaults.
func Default(rc *corev1.ReplicationController) {
	if rc.Spec.Template != nil && rc.Spec.Template.Labels != nil {
		if len(rc.Spec.Selector) == 0 {
			rc.Spec.Selector = rc.Spec.Template.Labels
		}
		if len(rc.Labels) == 0 {
			rc.Labels = rc.Spec.Template.Labels
		}
	}
	if rc.Spec.Replicas == nil {
		one := int32(1)
		rc.Spec.Replicas = &one
	}
	pod.DefaultPodTemplateSpec(rc.Spec.Template)
}

func nonNegative(v int64, p *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(p, v, "must be greater than or equal to 0")}
	}
	return nil
}

// Validate checks a ReplicationController's spec as upstream does.
func Validate(rc *corev1.ReplicationController) field.ErrorList {
	sp := field.NewPath("spec")
	errs := nonNegative(int64(rc.Spec.MinReadySeconds), sp.Child("minReadySeconds"))
	if len(rc.Spec.Selector) == 0 {
		errs = append(errs, field.Required(sp.Child("selector"), ""))
	} else {
		errs = append(errs, metavalidation.ValidateLabels(rc.Spec.Selector, sp.Child("selector"))...)
	}
	errs = append(errs, nonNegative(int64(replicas(rc)), sp.Child("replicas"))...)
	tp := sp.Child("template")
	t := rc.Spec.Template
	if t == nil {
		return append(errs, field.Required(tp, ""))
	}
	if sel := labels.SelectorFromSet(rc.Spec.Selector); !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, pod.ValidatePodTemplateSpec(t, tp)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(tp.Child("spec", "activeDeadlineSeconds"), t.Spec.ActiveDeadlineSeconds, "activeDeadlineSeconds in ReplicationController is not Supported"))
	}
	return errs
}

// ValidateStatus checks the counters of a status update.
func ValidateStatus(s *corev1.ReplicationControllerStatus) field.ErrorList {
	p := field.NewPath("status")
	errs := nonNegative(int64(s.Replicas), p.Child("replicas"))
	errs = append(errs, nonNegative(int64(s.FullyLabeledReplicas), p.Child("fullyLabeledReplicas"))...)
	errs = append(errs, nonNegative(int64(s.ReadyReplicas), p.Child("readyReplicas"))...)
	errs = append(errs, nonNegative(int64(s.AvailableReplicas), p.Child("availableReplicas"))...)
	errs = append(errs, nonNegative(s.ObservedGeneration, p.Child("observedGeneration"))...)
	msg := "cannot be greater than status.replicas"
	if s.FullyLabeledReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("fullyLabeledReplicas"), s.FullyLabeledReplicas, msg))
	}
	if s.ReadyReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), s.ReadyReplicas, msg))
	}
	if s.AvailableReplicas > s.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, msg))
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

// Row prints NAME DESIRED CURRENT READY AGE, then CONTAINERS IMAGES SELECTOR.
func Row(rc *corev1.ReplicationController) []any {
	var names, images string
	if rc.Spec.Template != nil {
		names, images = pod.ContainerCells(rc.Spec.Template.Spec.Containers)
	}
	return []any{rc.Name, int64(replicas(rc)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
		store.Age(rc.CreationTimestamp), names, images, labels.FormatLabels(rc.Spec.Selector)}
}
