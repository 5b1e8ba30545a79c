// Package node serves core/v1 Nodes (cluster-scoped) and their status: nodes register
// with their status, spec.podCIDRs and spec.providerID are set once, and the table
// prints readiness, roles and what the kubelet reports.
package node

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is nodes.
var Resource = &store.Resource{
	Name: "nodes", Singular: "node", ShortNames: []string{"no"},
	New:                func() runtime.Object { return &corev1.Node{} },
	NewList:            func() runtime.Object { return &corev1.NodeList{} },
	Status:             true,
	KeepStatusOnCreate: true,
	Defaults:           func(obj runtime.Object) { Default(obj.(*corev1.Node)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.Node))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*corev1.Node), old.(*corev1.Node))
	},
	ValidateStatus: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return validateAddresses(obj.(*corev1.Node))
	},
	Fields: func(obj runtime.Object) fields.Set {
		return fields.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
	},
	FieldLabels: []string{"spec.unschedulable"},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Status", Type: "string", Description: "The status of the node"},
		{Name: "Roles", Type: "string", Description: "The roles of the node"},
		store.AgeColumn,
		{Name: "Version", Type: "string", Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]},
		store.Wide(metav1.TableColumnDefinition{Name: "Internal-IP", Type: "string", Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]}),
		store.Wide(metav1.TableColumnDefinition{Name: "External-IP", Type: "string", Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]}),
		store.Wide(metav1.TableColumnDefinition{Name: "OS-Image", Type: "string", Description: corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]}),
		store.Wide(metav1.TableColumnDefinition{Name: "Kernel-Version", Type: "string", Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]}),
		store.Wide(metav1.TableColumnDefinition{Name: "Container-Runtime", Type: "string", Description: corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]}),
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*corev1.Node)) },
}

// Default keeps spec.podCIDR and spec.podCIDRs in step, as upstream's conversion does,
// and defaults allocatable to capacity.
func Default(n *corev1.Node) {
	if n.Spec.PodCIDR != "" && len(n.Spec.PodCIDRs) == 0 {
		n.Spec.PodCIDRs = []string{n.Spec.PodCIDR}
	} else if len(n.Spec.PodCIDRs) > 0 {
		n.Spec.PodCIDR = n.Spec.PodCIDRs[0]
	}
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
}

var validEffects = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}

// Validate checks a node's spec.
func Validate(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	if len(n.Spec.PodCIDRs) > 0 {
		p := sp.Child("podCIDRs")
		families := map[bool]bool{}
		for i, c := range n.Spec.PodCIDRs {
			pfx, err := netip.ParsePrefix(c)
			if err != nil {
				errs = append(errs, field.Invalid(p.Index(i), c, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
				continue
			}
			families[pfx.Addr().Is4()] = true
		}
		if len(n.Spec.PodCIDRs) > 2 {
			errs = append(errs, field.Invalid(p, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
		} else if len(n.Spec.PodCIDRs) == 2 && len(families) != 2 {
			errs = append(errs, field.Invalid(p, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
		}
	}
	seen := sets.New[string]()
	for i, t := range n.Spec.Taints {
		p := sp.Child("taints").Index(i)
		errs = append(errs, metavalidation.ValidateLabelName(t.Key, p.Child("key"))...)
		if t.Value != "" {
			errs = append(errs, metavalidation.ValidateLabels(map[string]string{"a": t.Value}, p.Child("value"))...)
		}
		switch {
		case t.Effect == "":
			errs = append(errs, field.Required(p.Child("effect"), ""))
		case !sets.New(validEffects...).Has(t.Effect):
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, validEffects))
		}
		k := t.Key + "/" + string(t.Effect)
		if seen.Has(k) {
			errs = append(errs, field.Duplicate(p, "taints must be unique by key and effect pair"))
		}
		seen.Insert(k)
	}
	return errs
}

// ValidateUpdate also keeps podCIDRs and providerID once they are set.
func ValidateUpdate(n, old *corev1.Node) field.ErrorList {
	errs := Validate(n)
	if len(old.Spec.PodCIDRs) > 0 {
		changed := len(old.Spec.PodCIDRs) != len(n.Spec.PodCIDRs)
		for i := 0; !changed && i < len(old.Spec.PodCIDRs); i++ {
			changed = old.Spec.PodCIDRs[i] != n.Spec.PodCIDRs[i]
		}
		if changed {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		}
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

func validateAddresses(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for i, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			if _, err := netip.ParseAddr(a.Address); err != nil {
				errs = append(errs, field.Invalid(field.NewPath("status", "addresses").Index(i).Child("address"), a.Address, "must be a valid IP address"))
			}
		}
	}
	return errs
}

// Status is the STATUS cell: Ready, NotReady or Unknown, plus SchedulingDisabled.
func Status(n *corev1.Node) string {
	var status []string
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = append(status, "Ready")
			} else {
				status = append(status, "NotReady")
			}
			break
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	return strings.Join(status, ",")
}

const (
	roleLabelPrefix = "node-role.kubernetes.io/"
	roleLabel       = "kubernetes.io/role"
)

// Roles returns the node's roles from its node-role.kubernetes.io/<role> and
// kubernetes.io/role labels, sorted.
func Roles(n *corev1.Node) []string {
	roles := sets.New[string]()
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, roleLabelPrefix):
			if r := strings.TrimPrefix(k, roleLabelPrefix); r != "" {
				roles.Insert(r)
			}
		case k == roleLabel && v != "":
			roles.Insert(v)
		}
	}
	return sets.List(roles)
}

func address(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// Row prints NAME STATUS ROLES AGE VERSION, then INTERNAL-IP EXTERNAL-IP OS-IMAGE
// KERNEL-VERSION CONTAINER-RUNTIME.
func Row(n *corev1.Node) []any {
	roles := strings.Join(Roles(n), ",")
	if roles == "" {
		roles = "<none>"
	}
	info := n.Status.NodeInfo
	return []any{n.Name, Status(n), roles, store.Age(n.CreationTimestamp), info.KubeletVersion,
		address(n, corev1.NodeInternalIP), address(n, corev1.NodeExternalIP),
		orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion)}
}
