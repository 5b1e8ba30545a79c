// Package csinode serves storage.k8s.io/v1 CSINodes: the CSI drivers each node's kubelet
// has registered, with their node IDs and topology keys.
package csinode

import (
	"context"

	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/storage/storageutil"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is csinodes.
var Resource = &store.Resource{
	Name: "csinodes", Singular: "csinode",
	New:     func() runtime.Object { return &storagev1.CSINode{} },
	NewList: func() runtime.Object { return &storagev1.CSINodeList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*storagev1.CSINode))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*storagev1.CSINode), old.(*storagev1.CSINode))
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Drivers", Type: "integer", Description: "Drivers indicates the number of CSI drivers registered on the node"},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any {
		n := obj.(*storagev1.CSINode)
		return []any{n.Name, int64(len(n.Spec.Drivers)), store.Age(n.CreationTimestamp)}
	},
}

// Validate checks each registered driver.
func Validate(n *storagev1.CSINode) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "drivers")
	seen := map[string]bool{}
	for i, d := range n.Spec.Drivers {
		dp := p.Index(i)
		errs = append(errs, storageutil.ValidateCSIDriverName(d.Name, dp.Child("name"))...)
		if seen[d.Name] {
			errs = append(errs, field.Duplicate(dp.Child("name"), d.Name))
		}
		seen[d.Name] = true
		if d.NodeID == "" {
			errs = append(errs, field.Required(dp.Child("nodeID"), ""))
		} else if len(d.NodeID) > storageutil.CSINodeIDMaxLength {
			errs = append(errs, field.Invalid(dp.Child("nodeID"), d.NodeID, "must be 192 characters or less"))
		}
		keys := map[string]bool{}
		for j, k := range d.TopologyKeys {
			kp := dp.Child("topologyKeys").Index(j)
			if k == "" {
				errs = append(errs, field.Required(kp, ""))
				continue
			}
			if keys[k] {
				errs = append(errs, field.Duplicate(kp, k))
			}
			keys[k] = true
			for _, msg := range validation.IsQualifiedName(k) {
				errs = append(errs, field.Invalid(kp, k, msg))
			}
		}
		if d.Allocatable != nil && d.Allocatable.Count != nil && *d.Allocatable.Count < 0 {
			errs = append(errs, field.Invalid(dp.Child("allocatable", "count"), *d.Allocatable.Count, "must be greater than or equal to 0"))
		}
	}
	return errs
}

// ValidateUpdate checks a node and that a registered driver's node ID and topology keys
// stay as they were.
func ValidateUpdate(n, old *storagev1.CSINode) field.ErrorList {
	errs := Validate(n)
	prev := map[string]storagev1.CSINodeDriver{}
	for _, d := range old.Spec.Drivers {
		prev[d.Name] = d
	}
	for i, d := range n.Spec.Drivers {
		o, ok := prev[d.Name]
		if !ok {
			continue
		}
		dp := field.NewPath("spec", "drivers").Index(i)
		errs = append(errs, apivalidation.ValidateImmutableField(d.NodeID, o.NodeID, dp.Child("nodeID"))...)
		errs = append(errs, apivalidation.ValidateImmutableField(d.TopologyKeys, o.TopologyKeys, dp.Child("topologyKeys"))...)
	}
	return errs
}
