// Package resourceclaimtemplate serves resource.k8s.io/v1 ResourceClaimTemplates: the
// claims created per pod from a template.
package resourceclaimtemplate

import (
	"context"

	resourcev1 "k8s.io/api/resource/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/resource/resourceclaim"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is resourceclaimtemplates.
var Resource = &store.Resource{
	Name: "resourceclaimtemplates", Singular: "resourceclaimtemplate", Namespaced: true,
	New:     func() runtime.Object { return &resourcev1.ResourceClaimTemplate{} },
	NewList: func() runtime.Object { return &resourcev1.ResourceClaimTemplateList{} },
	Defaults: func(obj runtime.Object) {
		resourceclaim.DefaultSpec(&obj.(*resourcev1.ResourceClaimTemplate).Spec.Spec)
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn, store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		o := obj.(*resourcev1.ResourceClaimTemplate)
		return []any{o.Name, store.Age(o.CreationTimestamp)}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*resourcev1.ResourceClaimTemplate))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		t, o := obj.(*resourcev1.ResourceClaimTemplate), old.(*resourcev1.ResourceClaimTemplate)
		return append(Validate(t), apivalidation.ValidateImmutableField(t.Spec, o.Spec, field.NewPath("spec"))...)
	},
}

// Validate checks the template's labels and annotations and its claim spec.
func Validate(t *resourcev1.ResourceClaimTemplate) field.ErrorList {
	mp := field.NewPath("spec", "metadata")
	errs := metavalidation.ValidateLabels(t.Spec.Labels, mp.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Spec.Annotations, mp.Child("annotations"))...)
	return append(errs, resourceclaim.ValidateSpec(&t.Spec.Spec, field.NewPath("spec", "spec"))...)
}
