package pod

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is pods. Its subresources (binding, eviction, ephemeralcontainers, resize,
// log, exec, attach, portforward) are added by NewResource, which needs the kubelet
// client files.
var Resource = &store.Resource{
	Name: "pods", Singular: "pod", Namespaced: true, ShortNames: []string{"po"}, Categories: []string{"all"},
	New:     func() runtime.Object { return &corev1.Pod{} },
	NewList: func() runtime.Object { return &corev1.PodList{} },
	Defaults: func(obj runtime.Object) {
		DefaultPod(obj.(*corev1.Pod))
	},
	Generation: true,
	Status:     true,
	PrepareForCreate: func(_ context.Context, obj runtime.Object) {
		PrepareForCreate(obj.(*corev1.Pod))
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return ValidatePodCreate(obj.(*corev1.Pod))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidatePodUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
	},
	Warnings: func(_ context.Context, obj, old runtime.Object) []string {
		if old != nil {
			return nil
		}
		p := obj.(*corev1.Pod)
		if msgs := validation.IsDNS1123Label(p.Name); len(msgs) != 0 && p.Name != "" {
			return []string{fmt.Sprintf("metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is recommended: %v", msgs)}
		}
		return nil
	},
	PrepareForStatusUpdate: func(_ context.Context, obj, old runtime.Object) {
		p, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
		// The QoS class is set at creation and kept; old kubelets drop it.
		if p.Status.QOSClass == "" {
			p.Status.QOSClass = oldPod.Status.QOSClass
		}
		if p.Status.ObservedGeneration == 0 {
			p.Status.ObservedGeneration = oldPod.Status.ObservedGeneration
		}
	},
	ValidateStatus: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidatePodStatus(obj.(*corev1.Pod), old.(*corev1.Pod))
	},
	GracefulDelete: func(_ context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
		return CheckGracefulDelete(obj.(*corev1.Pod), options)
	},
	Fields: func(obj runtime.Object) fields.Set { return SelectableFields(obj.(*corev1.Pod)) },
	FieldLabels: []string{"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
		"spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Ready", Type: "string", Description: "The aggregate readiness state of this pod for accepting traffic."},
		{Name: "Status", Type: "string", Description: "The aggregate status of the containers in this pod."},
		{Name: "Restarts", Type: "string", Description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."},
		store.AgeColumn,
		store.Wide(metav1.TableColumnDefinition{Name: "IP", Type: "string", Description: corev1.PodStatus{}.SwaggerDoc()["podIP"]}),
		store.Wide(metav1.TableColumnDefinition{Name: "Node", Type: "string", Description: corev1.PodSpec{}.SwaggerDoc()["nodeName"]}),
		store.Wide(metav1.TableColumnDefinition{Name: "Nominated Node", Type: "string", Description: corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]}),
		store.Wide(metav1.TableColumnDefinition{Name: "Readiness Gates", Type: "string", Description: "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\". More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"}),
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*corev1.Pod)) },
}

// PrepareForCreate sets what the server owns on a new pod: a Pending status with the
// QoS class, and the SchedulingGated condition when the pod has scheduling gates.
func PrepareForCreate(p *corev1.Pod) {
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: QOSClass(p)}
	if len(p.Spec.SchedulingGates) > 0 {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason:  corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		})
	}
}

// syncIPs keeps the singular and plural IP fields in step, as upstream's conversion
// does: the singular field wins when both are set and differ.
func syncIPs(s *corev1.PodStatus) {
	if s.PodIP != "" {
		if len(s.PodIPs) == 0 || s.PodIPs[0].IP != s.PodIP {
			s.PodIPs = []corev1.PodIP{{IP: s.PodIP}}
		}
	} else if len(s.PodIPs) > 0 {
		s.PodIP = s.PodIPs[0].IP
	}
	if s.HostIP != "" {
		if len(s.HostIPs) == 0 || s.HostIPs[0].IP != s.HostIP {
			s.HostIPs = []corev1.HostIP{{IP: s.HostIP}}
		}
	} else if len(s.HostIPs) > 0 {
		s.HostIP = s.HostIPs[0].IP
	}
}

// QOSClass computes a pod's quality of service class from its containers' (or its
// pod-level) cpu and memory requests and limits.
func QOSClass(p *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		if cur, ok := l[name]; ok {
			q.Add(cur)
		}
		l[name] = q
	}
	qosResource := func(n corev1.ResourceName) bool { return n == corev1.ResourceCPU || n == corev1.ResourceMemory }
	collect := func(r corev1.ResourceRequirements) {
		for n, q := range r.Requests {
			if qosResource(n) && q.Sign() > 0 {
				add(requests, n, q.DeepCopy())
			}
		}
		found := sets.New[corev1.ResourceName]()
		for n, q := range r.Limits {
			if qosResource(n) && q.Sign() > 0 {
				found.Insert(n)
				add(limits, n, q.DeepCopy())
			}
		}
		if !found.HasAll(corev1.ResourceMemory, corev1.ResourceCPU) {
			guaranteed = false
		}
	}
	if p.Spec.Resources != nil {
		collect(*p.Spec.Resources)
	} else {
		for _, c := range p.Spec.Containers {
			collect(c.Resources)
		}
		for _, c := range p.Spec.InitContainers {
			collect(c.Resources)
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for n, req := range requests {
			if lim, ok := limits[n]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// CheckGracefulDelete sets the grace period of a pod delete as upstream does: the
// request's, else the pod's terminationGracePeriodSeconds; zero for pods that are not
// scheduled or have finished; a negative period becomes 1.
func CheckGracefulDelete(p *corev1.Pod, options *metav1.DeleteOptions) bool {
	if options == nil {
		return false
	}
	period := int64(0)
	if options.GracePeriodSeconds != nil {
		period = *options.GracePeriodSeconds
	} else if p.Spec.TerminationGracePeriodSeconds != nil {
		period = *p.Spec.TerminationGracePeriodSeconds
	}
	if p.Spec.NodeName == "" {
		period = 0
	}
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		period = 0
	}
	if period < 0 {
		period = 1
	}
	options.GracePeriodSeconds = &period
	return true
}

// SelectableFields are the fields pods can be listed by.
func SelectableFields(p *corev1.Pod) fields.Set {
	podIP := ""
	ips := make([]string, 0, len(p.Status.PodIPs))
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) > 0 {
		podIP = ips[0]
	} else {
		podIP = p.Status.PodIP
	}
	return fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             podIP,
		"status.podIPs":            strings.Join(ips, ","),
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

// ValidatePodCreate checks a new pod.
func ValidatePodCreate(p *corev1.Pod) field.ErrorList {
	errs := ValidatePodSpec(&p.Spec, &p.ObjectMeta, field.NewPath("spec"))
	if len(p.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "ephemeralContainers"), "cannot be set on create"))
	}
	if p.Spec.TerminationGracePeriodSeconds != nil && *p.Spec.TerminationGracePeriodSeconds < 0 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "terminationGracePeriodSeconds"), *p.Spec.TerminationGracePeriodSeconds, "must be greater than or equal to 0"))
	}
	return errs
}

const podUpdateForbidden = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

// ValidatePodUpdate checks an update of a pod: the spec is immutable but for images,
// activeDeadlineSeconds, added tolerations, removed scheduling gates and a negative
// terminationGracePeriodSeconds becoming 1.
func ValidatePodUpdate(p, old *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := ValidatePodSpec(&p.Spec, &p.ObjectMeta, specPath)
	if len(p.Spec.Containers) != len(old.Spec.Containers) {
		return append(errs, field.Forbidden(specPath.Child("containers"), "pod updates may not add or remove containers"))
	}
	if len(p.Spec.InitContainers) != len(old.Spec.InitContainers) {
		return append(errs, field.Forbidden(specPath.Child("initContainers"), "pod updates may not add or remove containers"))
	}
	if old.Spec.ActiveDeadlineSeconds != nil {
		p2 := specPath.Child("activeDeadlineSeconds")
		if p.Spec.ActiveDeadlineSeconds == nil {
			errs = append(errs, field.Invalid(p2, p.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
		} else if *p.Spec.ActiveDeadlineSeconds > *old.Spec.ActiveDeadlineSeconds {
			errs = append(errs, field.Invalid(p2, *p.Spec.ActiveDeadlineSeconds, "must be less than or equal to previous value"))
		}
	}
	errs = append(errs, validateOnlyAddedTolerations(p.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateOnlyDeletedSchedulingGates(p.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	munged := p.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	munged.Tolerations = old.Spec.Tolerations
	munged.SchedulingGates = old.Spec.SchedulingGates
	if old.Spec.TerminationGracePeriodSeconds != nil && *old.Spec.TerminationGracePeriodSeconds < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = old.Spec.TerminationGracePeriodSeconds
	}
	if !equality.Semantic.DeepEqual(*munged, old.Spec) {
		diff := cmp.Diff(old.Spec, *munged)
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("%s\n%v", podUpdateForbidden, diff)))
	}
	return errs
}

func validateOnlyAddedTolerations(ts, old []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, o := range old {
		found := false
		oc := o
		oc.TolerationSeconds = nil
		for _, n := range ts {
			nc := n
			nc.TolerationSeconds = nil
			if equality.Semantic.DeepEqual(oc, nc) {
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds"))
			return errs
		}
	}
	return errs
}

func validateOnlyDeletedSchedulingGates(gates, old []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	if len(gates) == 0 {
		return nil
	}
	had := sets.New[string]()
	for _, g := range old {
		had.Insert(g.Name)
	}
	for i, g := range gates {
		if !had.Has(g.Name) {
			return field.ErrorList{field.Forbidden(fldPath.Index(i), "only deletion is allowed, but found new scheduling gate '"+g.Name+"'")}
		}
	}
	return nil
}

// ValidatePodStatus checks a status update: node names and IPs must be well formed.
func ValidatePodStatus(p, old *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("status")
	if n := p.Status.NominatedNodeName; n != "" {
		errs = append(errs, dnsSubdomain(n, sp.Child("nominatedNodeName"))...)
	}
	seen := sets.New[string]()
	for i, ip := range p.Status.PodIPs {
		if !validIP(ip.IP) {
			errs = append(errs, field.Invalid(sp.Child("podIPs").Index(i), ip.IP, "must be a valid IP address"))
		}
		if seen.Has(ip.IP) {
			errs = append(errs, field.Duplicate(sp.Child("podIPs").Index(i), ip.IP))
		}
		seen.Insert(ip.IP)
	}
	for i, ip := range p.Status.HostIPs {
		if !validIP(ip.IP) {
			errs = append(errs, field.Invalid(sp.Child("hostIPs").Index(i), ip.IP, "must be a valid IP address"))
		}
	}
	return errs
}
