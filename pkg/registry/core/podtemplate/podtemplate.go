// Package podtemplate serves core/v1 PodTemplates: a pod template, defaulted and
// validated as the templates of workloads are.
package podtemplate

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is podtemplates.
var Resource = &store.Resource{
	Name: "podtemplates", Singular: "podtemplate", Namespaced: true,
	New:        func() runtime.Object { return &corev1.PodTemplate{} },
	NewList:    func() runtime.Object { return &corev1.PodTemplateList{} },
	Generation: true,
	Defaults: func(obj runtime.Object) {
		pod.DefaultPodTemplateSpec(&obj.(*corev1.PodTemplate).Template)
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.PodTemplate))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Containers", Type: "string", Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Description: "Images referenced by each container in the template."},
		{Name: "Pod Labels", Type: "string", Description: "The labels for the pod template."},
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*corev1.PodTemplate)) },
}

// Validate checks a PodTemplate.
func Validate(t *corev1.PodTemplate) field.ErrorList {
	return pod.ValidatePodTemplateSpec(&t.Template, field.NewPath("template"))
}

// Row prints NAME CONTAINERS IMAGES POD LABELS.
func Row(t *corev1.PodTemplate) []any {
	names, images := pod.ContainerCells(t.Template.Spec.Containers)
	return []any{t.Name, names, images, labels.FormatLabels(t.Template.Labels)}
}
