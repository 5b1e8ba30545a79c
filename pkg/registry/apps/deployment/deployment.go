// Package deployment serves apps/v1 Deployments: declarative rollouts of replica sets,
// with the status and scale subresources.
package deployment

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/apps/workload"
	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is deployments.
var Resource = &store.Resource{
	Name: "deployments", Singular: "deployment", Namespaced: true,
	ShortNames: []string{"deploy"}, Categories: []string{"all"},
	New:      func() runtime.Object { return &appsv1.Deployment{} },
	NewList:  func() runtime.Object { return &appsv1.DeploymentList{} },
	Status:   true,
	Defaults: func(obj runtime.Object) { Default(obj.(*appsv1.Deployment)) },
	// Generation is bumped here rather than by the framework: upstream also bumps it when
	// annotations change, since they are copied to the replica sets.
	PrepareForCreate: func(_ context.Context, obj runtime.Object) { obj.(*appsv1.Deployment).Generation = 1 },
	PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
		d, o := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
		d.Generation = o.Generation
		if !equality.Semantic.DeepEqual(d.Spec, o.Spec) || !equality.Semantic.DeepEqual(d.Annotations, o.Annotations) {
			d.Generation = o.Generation + 1
		}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return ValidateSpec(&obj.(*appsv1.Deployment).Spec, field.NewPath("spec"))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		d, o := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
		errs := ValidateSpec(&d.Spec, field.NewPath("spec"))
		return append(errs, apivalidation.ValidateImmutableField(d.Spec.Selector, o.Spec.Selector, field.NewPath("spec", "selector"))...)
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return ValidateStatus(&obj.(*appsv1.Deployment).Status, field.NewPath("status"))
	},
	Scale: workload.ReplicasScale(func(obj runtime.Object) (**int32, int32, *metav1.LabelSelector) {
		d := obj.(*appsv1.Deployment)
		return &d.Spec.Replicas, d.Status.Replicas, d.Spec.Selector
	}),
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		{Name: "Up-to-date", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
		{Name: "Available", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
		store.AgeColumn,
		workload.ContainersColumn, workload.ImagesColumn,
		workload.SelectorColumn(appsv1.DeploymentSpec{}.SwaggerDoc()["selector"])},
	Row: func(obj runtime.Object) []any {
		d := obj.(*appsv1.Deployment)
		names, images := workload.ContainersAndImages(&d.Spec.Template.Spec)
		return []any{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, workload.Int32(d.Spec.Replicas, 0)),
			int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), store.Age(d.CreationTimestamp),
			names, images, workload.SelectorString(d.Spec.Selector)}
	},
}

// Default fills upstream's apps/v1 defaults: 1 replica, a RollingUpdate strategy of
// 25% / 25%, 10 kept revisions, a 600s progress deadline, and the pod template's own.
func Default(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		one := int32(1)
		d.Spec.Replicas = &one
	}
	s := &d.Spec.Strategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromString("25%")
			s.RollingUpdate.MaxUnavailable = &v
		}
		if s.RollingUpdate.MaxSurge == nil {
			v := intstr.FromString("25%")
			s.RollingUpdate.MaxSurge = &v
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		n := int32(10)
		d.Spec.RevisionHistoryLimit = &n
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		n := int32(600)
		d.Spec.ProgressDeadlineSeconds = &n
	}
	pod.DefaultPodTemplateSpec(&d.Spec.Template)
}

// ValidateSpec checks replicas, the selector and the template it must select, the
// strategy and the timing fields.
func ValidateSpec(spec *appsv1.DeploymentSpec, p *field.Path) field.ErrorList {
	errs := workload.Nonnegative(spec.Replicas, p.Child("replicas"))
	errs = append(errs, workload.ValidateSelectedTemplate(spec.Selector, &spec.Template, "deployment", "ReplicaSet", p)...)
	errs = append(errs, validateStrategy(&spec.Strategy, p.Child("strategy"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, workload.Nonnegative(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	if pd := spec.ProgressDeadlineSeconds; pd != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*pd), p.Child("progressDeadlineSeconds"))...)
		if *pd <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), *pd, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateStrategy(s *appsv1.DeploymentStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(p.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := s.RollingUpdate
		if ru == nil {
			return append(errs, field.Required(p.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		rp := p.Child("rollingUpdate")
		errs = append(errs, workload.ValidatePositiveIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, workload.ValidatePositiveIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
		if workload.IntOrPercentValue(ru.MaxUnavailable) == 0 && workload.IntOrPercentValue(ru.MaxSurge) == 0 {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
		errs = append(errs, workload.NotMoreThan100Percent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), s.Type, []appsv1.DeploymentStrategyType{
			appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}))
	}
	return errs
}

// ValidateStatus checks the counters the deployment controller writes.
func ValidateStatus(st *appsv1.DeploymentStatus, p *field.Path) field.ErrorList {
	counters := map[string]int64{
		"observedGeneration":  st.ObservedGeneration,
		"replicas":            int64(st.Replicas),
		"updatedReplicas":     int64(st.UpdatedReplicas),
		"readyReplicas":       int64(st.ReadyReplicas),
		"availableReplicas":   int64(st.AvailableReplicas),
		"unavailableReplicas": int64(st.UnavailableReplicas),
	}
	if st.TerminatingReplicas != nil {
		counters["terminatingReplicas"] = int64(*st.TerminatingReplicas)
	}
	if st.CollisionCount != nil {
		counters["collisionCount"] = int64(*st.CollisionCount)
	}
	errs := workload.Counters(p, counters)
	errs = append(errs, workload.NotGreaterThan(st.UpdatedReplicas, st.Replicas, "status.replicas", p.Child("updatedReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.ReadyReplicas, st.Replicas, "status.replicas", p.Child("readyReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.AvailableReplicas, st.Replicas, "status.replicas", p.Child("availableReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.AvailableReplicas, st.ReadyReplicas, "readyReplicas", p.Child("availableReplicas"))...)
	return errs
}
