// Package priorityclass serves scheduling.k8s.io/v1 PriorityClasses: the mapping from a
// class name to the integer priority of the pods that name it.
package priorityclass

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

const (
	// HighestUserDefinablePriority is the largest value a class not named system-* may have.
	HighestUserDefinablePriority = int32(1000000000)
	// SystemCriticalPriority is the base of the built-in system classes.
	SystemCriticalPriority = 2 * HighestUserDefinablePriority
	// SystemPriorityClassPrefix is reserved for the built-in classes.
	SystemPriorityClassPrefix = "system-"
	// SystemClusterCritical and SystemNodeCritical are the built-in class names.
	SystemClusterCritical = SystemPriorityClassPrefix + "cluster-critical"
	SystemNodeCritical    = SystemPriorityClassPrefix + "node-critical"
)

// SystemPriorityClasses returns the classes every cluster has, as upstream defines them.
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	policy := corev1.PreemptLowerPriority
	return []*schedulingv1.PriorityClass{
		{
			ObjectMeta:       metav1.ObjectMeta{Name: SystemNodeCritical},
			Value:            SystemCriticalPriority + 1000,
			Description:      "Used for system critical pods that must not be moved from their current node.",
			PreemptionPolicy: &policy,
		},
		{
			ObjectMeta:       metav1.ObjectMeta{Name: SystemClusterCritical},
			Value:            SystemCriticalPriority,
			Description:      "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
			PreemptionPolicy: &policy,
		},
	}
}

// Resource is priorityclasses.
var Resource = &store.Resource{
	Name: "priorityclasses", Singular: "priorityclass", ShortNames: []string{"pc"},
	New:      func() runtime.Object { return &schedulingv1.PriorityClass{} },
	NewList:  func() runtime.Object { return &schedulingv1.PriorityClassList{} },
	Defaults: func(obj runtime.Object) { Default(obj.(*schedulingv1.PriorityClass)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*schedulingv1.PriorityClass))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass))
	},
	Customize: func(s *genericregistry.Store) error {
		s.BeginCreate = func(ctx context.Context, obj runtime.Object, _ *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
			return noop, checkSingleDefault(ctx, s, obj.(*schedulingv1.PriorityClass))
		}
		s.BeginUpdate = func(ctx context.Context, obj, _ runtime.Object, _ *metav1.UpdateOptions) (genericregistry.FinishFunc, error) {
			return noop, checkSingleDefault(ctx, s, obj.(*schedulingv1.PriorityClass))
		}
		return nil
	},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Value", Type: "integer", Description: schedulingv1.PriorityClass{}.SwaggerDoc()["value"]},
		{Name: "Global-Default", Type: "boolean", Description: schedulingv1.PriorityClass{}.SwaggerDoc()["globalDefault"]},
		store.AgeColumn,
		{Name: "PreemptionPolicy", Type: "string", Description: schedulingv1.PriorityClass{}.SwaggerDoc()["preemptionPolicy"]},
	},
	Row: func(obj runtime.Object) []any {
		pc := obj.(*schedulingv1.PriorityClass)
		policy := ""
		if pc.PreemptionPolicy != nil {
			policy = string(*pc.PreemptionPolicy)
		}
		return []any{pc.Name, int64(pc.Value), pc.GlobalDefault, store.Age(pc.CreationTimestamp), policy}
	},
}

func noop(context.Context, bool) {}

// checkSingleDefault refuses a second globalDefault class, as upstream's Priority
// admission plugin does.
func checkSingleDefault(ctx context.Context, s *genericregistry.Store, pc *schedulingv1.PriorityClass) error {
	if !pc.GlobalDefault {
		return nil
	}
	list, err := s.List(ctx, &metainternalversion.ListOptions{})
	if err != nil {
		return err
	}
	for _, other := range list.(*schedulingv1.PriorityClassList).Items {
		if other.GlobalDefault && other.Name != pc.Name {
			return apierrors.NewForbidden(schedulingv1.Resource("priorityclasses"), pc.Name,
				fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", other.Name))
		}
	}
	return nil
}

// Default sets preemptionPolicy to PreemptLowerPriority.
func Default(pc *schedulingv1.PriorityClass) {
	if pc.PreemptionPolicy == nil {
		p := corev1.PreemptLowerPriority
		pc.PreemptionPolicy = &p
	}
}

// Validate checks the reserved system- prefix, the user value ceiling and the policy.
func Validate(pc *schedulingv1.PriorityClass) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(pc.Name, SystemPriorityClassPrefix) {
		if err := isKnownSystemClass(pc.Name, pc.Value, pc.GlobalDefault); err != nil {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+SystemPriorityClassPrefix+"' prefix are reserved for system use only. error: "+err.Error()))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"),
			fmt.Sprintf("maximum allowed value of a user defined priority is %v", HighestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		switch *pc.PreemptionPolicy {
		case corev1.PreemptLowerPriority, corev1.PreemptNever:
		default:
			errs = append(errs, field.NotSupported(field.NewPath("preemptionPolicy"), *pc.PreemptionPolicy,
				[]corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}))
		}
	}
	return errs
}

// ValidateUpdate also keeps value and preemptionPolicy as they were.
func ValidateUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	errs := Validate(pc)
	if pc.Value != old.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	errs = append(errs, apivalidation.ValidateImmutableField(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	return errs
}

func isKnownSystemClass(name string, value int32, globalDefault bool) error {
	for _, spc := range SystemPriorityClasses() {
		if spc.Name != name {
			continue
		}
		if spc.Value != value {
			return fmt.Errorf("value of %v PriorityClass must be %v", spc.Name, spc.Value)
		}
		if spc.GlobalDefault != globalDefault {
			return fmt.Errorf("globalDefault of %v PriorityClass must be %v", spc.Name, spc.GlobalDefault)
		}
		return nil
	}
	return fmt.Errorf("%v is not a known system priority class", name)
}
