// Package replicaset serves apps/v1 ReplicaSets: a number of identical pods kept running,
// with the status and scale subresources.
package replicaset

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/apps/workload"
	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is replicasets.
var Resource = &store.Resource{
	Name: "replicasets", Singular: "replicaset", Namespaced: true,
	ShortNames: []string{"rs"}, Categories: []string{"all"},
	New:        func() runtime.Object { return &appsv1.ReplicaSet{} },
	NewList:    func() runtime.Object { return &appsv1.ReplicaSetList{} },
	Status:     true,
	Generation: true,
	Defaults:   func(obj runtime.Object) { Default(obj.(*appsv1.ReplicaSet)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return ValidateSpec(&obj.(*appsv1.ReplicaSet).Spec, field.NewPath("spec"))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		rs, o := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
		errs := ValidateSpec(&rs.Spec, field.NewPath("spec"))
		return append(errs, apivalidation.ValidateImmutableField(rs.Spec.Selector, o.Spec.Selector, field.NewPath("spec", "selector"))...)
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return ValidateStatus(&obj.(*appsv1.ReplicaSet).Status, field.NewPath("status"))
	},
	Fields: func(obj runtime.Object) fields.Set {
		return fields.Set{"status.replicas": strconv.Itoa(int(obj.(*appsv1.ReplicaSet).Status.Replicas))}
	},
	FieldLabels: []string{"status.replicas"},
	Scale: workload.ReplicasScale(func(obj runtime.Object) (**int32, int32, *metav1.LabelSelector) {
		rs := obj.(*appsv1.ReplicaSet)
		return &rs.Spec.Replicas, rs.Status.Replicas, rs.Spec.Selector
	}),
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Desired", Type: "integer", Description: appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]},
		{Name: "Current", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]},
		{Name: "Ready", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]},
		store.AgeColumn,
		workload.ContainersColumn, workload.ImagesColumn,
		workload.SelectorColumn(appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"])},
	Row: func(obj runtime.Object) []any {
		rs := obj.(*appsv1.ReplicaSet)
		names, images := workload.ContainersAndImages(&rs.Spec.Template.Spec)
		return []any{rs.Name, int64(workload.Int32(rs.Spec.Replicas, 0)), int64(rs.Status.Replicas),
			int64(rs.Status.ReadyReplicas), store.Age(rs.CreationTimestamp),
			names, images, workload.SelectorString(rs.Spec.Selector)}
	},
}

// Default sets 1 replica and the pod template's defaults.
func Default(rs *appsv1.ReplicaSet) {
	if rs.Spec.Replicas == nil {
		one := int32(1)
		rs.Spec.Replicas = &one
	}
	pod.DefaultPodTemplateSpec(&rs.Spec.Template)
}

// ValidateSpec checks replicas, the selector and the template it must select.
func ValidateSpec(spec *appsv1.ReplicaSetSpec, p *field.Path) field.ErrorList {
	errs := workload.Nonnegative(spec.Replicas, p.Child("replicas"))
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	// Upstream names deployments in this message for replica sets too.
	errs = append(errs, workload.ValidateSelectedTemplate(spec.Selector, &spec.Template, "deployment", "ReplicaSet", p)...)
	return errs
}

// ValidateStatus checks the counters the replica set controller writes.
func ValidateStatus(st *appsv1.ReplicaSetStatus, p *field.Path) field.ErrorList {
	counters := map[string]int64{
		"replicas":             int64(st.Replicas),
		"fullyLabeledReplicas": int64(st.FullyLabeledReplicas),
		"readyReplicas":        int64(st.ReadyReplicas),
		"availableReplicas":    int64(st.AvailableReplicas),
		"observedGeneration":   st.ObservedGeneration,
	}
	if st.TerminatingReplicas != nil {
		counters["terminatingReplicas"] = int64(*st.TerminatingReplicas)
	}
	errs := workload.Counters(p, counters)
	errs = append(errs, workload.NotGreaterThan(st.FullyLabeledReplicas, st.Replicas, "status.replicas", p.Child("fullyLabeledReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.ReadyReplicas, st.Replicas, "status.replicas", p.Child("readyReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.AvailableReplicas, st.Replicas, "status.replicas", p.Child("availableReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.AvailableReplicas, st.ReadyReplicas, "readyReplicas", p.Child("availableReplicas"))...)
	return errs
}
