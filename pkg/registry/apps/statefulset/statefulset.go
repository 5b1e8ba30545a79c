// Package statefulset serves apps/v1 StatefulSets: pods with stable names and storage,
// created and updated in order, with the status and scale subresources.
package statefulset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/apps/workload"
	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is statefulsets.
var Resource = &store.Resource{
	Name: "statefulsets", Singular: "statefulset", Namespaced: true,
	ShortNames: []string{"sts"}, Categories: []string{"all"},
	New:        func() runtime.Object { return &appsv1.StatefulSet{} },
	NewList:    func() runtime.Object { return &appsv1.StatefulSetList{} },
	Status:     true,
	Generation: true,
	Defaults:   func(obj runtime.Object) { Default(obj.(*appsv1.StatefulSet)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return ValidateSpec(&obj.(*appsv1.StatefulSet).Spec, field.NewPath("spec"))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return ValidateStatus(&obj.(*appsv1.StatefulSet).Status, field.NewPath("status"))
	},
	Scale: workload.ReplicasScale(func(obj runtime.Object) (**int32, int32, *metav1.LabelSelector) {
		s := obj.(*appsv1.StatefulSet)
		return &s.Spec.Replicas, s.Status.Replicas, s.Spec.Selector
	}),
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		store.AgeColumn,
		workload.ContainersColumn, workload.ImagesColumn},
	Row: func(obj runtime.Object) []any {
		s := obj.(*appsv1.StatefulSet)
		names, images := workload.ContainersAndImages(&s.Spec.Template.Spec)
		return []any{s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, workload.Int32(s.Spec.Replicas, 0)),
			store.Age(s.CreationTimestamp), names, images}
	},
}

// Default fills upstream's apps/v1 defaults: OrderedReady pods, RollingUpdate with
// partition 0, PVCs retained when deleted or scaled, 1 replica, 10 kept revisions.
func Default(s *appsv1.StatefulSet) {
	if s.Spec.PodManagementPolicy == "" {
		s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if s.Spec.UpdateStrategy.Type == "" {
		s.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		if s.Spec.UpdateStrategy.RollingUpdate == nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
		if s.Spec.UpdateStrategy.RollingUpdate.Partition == nil {
			s.Spec.UpdateStrategy.RollingUpdate.Partition = new(int32)
		}
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy == nil {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	rp := s.Spec.PersistentVolumeClaimRetentionPolicy
	if rp.WhenDeleted == "" {
		rp.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if rp.WhenScaled == "" {
		rp.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if s.Spec.Replicas == nil {
		one := int32(1)
		s.Spec.Replicas = &one
	}
	if s.Spec.RevisionHistoryLimit == nil {
		n := int32(10)
		s.Spec.RevisionHistoryLimit = &n
	}
	pod.DefaultPodTemplateSpec(&s.Spec.Template)
	for i := range s.Spec.VolumeClaimTemplates {
		c := &s.Spec.VolumeClaimTemplates[i]
		// The claim defaults upstream applies to every PersistentVolumeClaim.
		if c.Spec.VolumeMode == nil {
			fs := corev1.PersistentVolumeFilesystem
			c.Spec.VolumeMode = &fs
		}
		if c.Status.Phase == "" {
			c.Status.Phase = corev1.ClaimPending
		}
	}
}

var retentionTypes = []appsv1.PersistentVolumeClaimRetentionPolicyType{
	appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
}

// ValidateSpec checks the policies, counters, selector and the template it must select.
func ValidateSpec(spec *appsv1.StatefulSetSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(p.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(p.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	us := p.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		errs = append(errs, field.Required(us, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(us.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, workload.Nonnegative(ru.Partition, us.Child("rollingUpdate", "partition"))...)
			if ru.MaxUnavailable != nil {
				mp := us.Child("rollingUpdate", "maxUnavailable")
				errs = append(errs, workload.ValidatePositiveIntOrPercent(ru.MaxUnavailable, mp)...)
				if workload.IntOrPercentValue(ru.MaxUnavailable) == 0 {
					errs = append(errs, field.Invalid(mp, ru.MaxUnavailable, "cannot be 0"))
				}
				errs = append(errs, workload.NotMoreThan100Percent(ru.MaxUnavailable, mp)...)
			}
		}
	default:
		errs = append(errs, field.Invalid(us, spec.UpdateStrategy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if rp := spec.PersistentVolumeClaimRetentionPolicy; rp != nil {
		pp := p.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateRetention(rp.WhenDeleted, pp.Child("whenDeleted"))...)
		errs = append(errs, validateRetention(rp.WhenScaled, pp.Child("whenScaled"))...)
	}
	errs = append(errs, workload.Nonnegative(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	errs = append(errs, workload.Nonnegative(spec.Replicas, p.Child("replicas"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.Ordinals.Start), p.Child("ordinals", "start"))...)
	}
	errs = append(errs, workload.ValidateSelectedTemplate(spec.Selector, &spec.Template, "statefulset", "StatefulSet", p)...)
	for i, c := range spec.VolumeClaimTemplates {
		for _, msg := range apivalidation.NameIsDNSSubdomain(c.Name, false) {
			errs = append(errs, field.Invalid(p.Child("volumeClaimTemplates").Index(i).Child("metadata", "name"), c.Name, msg))
		}
	}
	return errs
}

func validateRetention(v appsv1.PersistentVolumeClaimRetentionPolicyType, p *field.Path) field.ErrorList {
	if v != appsv1.RetainPersistentVolumeClaimRetentionPolicyType && v != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return field.ErrorList{field.NotSupported(p, v, retentionTypes)}
	}
	return nil
}

// ValidateUpdate forbids changing any spec field but those upstream lets change.
func ValidateUpdate(s, old *appsv1.StatefulSet) field.ErrorList {
	errs := ValidateSpec(&s.Spec, field.NewPath("spec"))
	rest := s.Spec.DeepCopy()
	rest.Replicas = old.Spec.Replicas
	rest.Template = old.Spec.Template
	rest.UpdateStrategy = old.Spec.UpdateStrategy
	rest.MinReadySeconds = old.Spec.MinReadySeconds
	rest.Ordinals = old.Spec.Ordinals
	rest.RevisionHistoryLimit = old.Spec.RevisionHistoryLimit
	rest.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	if !equality.Semantic.DeepEqual(*rest, old.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

// ValidateStatus checks the counters the stateful set controller writes.
func ValidateStatus(st *appsv1.StatefulSetStatus, p *field.Path) field.ErrorList {
	counters := map[string]int64{
		"replicas":           int64(st.Replicas),
		"readyReplicas":      int64(st.ReadyReplicas),
		"currentReplicas":    int64(st.CurrentReplicas),
		"updatedReplicas":    int64(st.UpdatedReplicas),
		"availableReplicas":  int64(st.AvailableReplicas),
		"observedGeneration": st.ObservedGeneration,
	}
	if st.CollisionCount != nil {
		counters["collisionCount"] = int64(*st.CollisionCount)
	}
	errs := workload.Counters(p, counters)
	msg := "status.replicas"
	errs = append(errs, workload.NotGreaterThan(st.ReadyReplicas, st.Replicas, msg, p.Child("readyReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.CurrentReplicas, st.Replicas, msg, p.Child("currentReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.UpdatedReplicas, st.Replicas, msg, p.Child("updatedReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.AvailableReplicas, st.Replicas, msg, p.Child("availableReplicas"))...)
	errs = append(errs, workload.NotGreaterThan(st.AvailableReplicas, st.ReadyReplicas, "status.readyReplicas", p.Child("availableReplicas"))...)
	return errs
}
