package statefulset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The persistentVolumeClaimRetentionPolicy is carried out, as upstream does, through
// the claims' ownerReferences; the garbage collector deletes the claims:
//
//	Retain on scale-down, Retain on deletion: no reference
//	Retain on scale-down, Delete on deletion: a reference to the set
//	Delete on scale-down, Retain on deletion: a reference to the pod once it is scaled away
//	Delete on scale-down, Delete on deletion: the set while in range, the pod once scaled away

const (
	retain = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	del    = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
)

func retentionPolicy(set *appsv1.StatefulSet) appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	p := appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: retain, WhenScaled: retain}
	if rp := set.Spec.PersistentVolumeClaimRetentionPolicy; rp != nil {
		if rp.WhenDeleted != "" {
			p.WhenDeleted = rp.WhenDeleted
		}
		if rp.WhenScaled != "" {
			p.WhenScaled = rp.WhenScaled
		}
	}
	return p
}

// matchesRef reports whether ref names obj (by kind and name, not UID).
func matchesRef(ref *metav1.OwnerReference, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	return ref.APIVersion == gvk.GroupVersion().String() && ref.Kind == gvk.Kind && ref.Name == obj.GetName()
}

func hasOwnerRef(target, owner metav1.Object) bool {
	for _, ref := range target.GetOwnerReferences() {
		if ref.UID == owner.GetUID() {
			return true
		}
	}
	return false
}

// hasStaleOwnerRef: a reference names obj but an earlier incarnation of it.
func hasStaleOwnerRef(target metav1.Object, obj metav1.Object, gvk schema.GroupVersionKind) bool {
	refs := target.GetOwnerReferences()
	for i := range refs {
		if matchesRef(&refs[i], obj, gvk) {
			return refs[i].UID != obj.GetUID()
		}
	}
	return false
}

// hasUnexpectedController: under a Delete policy, the claim is controlled by
// something other than this set or pod (or by an earlier set or pod of that name).
func hasUnexpectedController(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	p := retentionPolicy(set)
	if p.WhenScaled == retain && p.WhenDeleted == retain {
		return false
	}
	for i := range claim.OwnerReferences {
		ref := &claim.OwnerReferences[i]
		switch {
		case matchesRef(ref, set, controllerKind):
			if ref.UID != set.UID {
				return true
			}
		case matchesRef(ref, pod, podKind):
			if ref.UID != pod.UID {
				return true
			}
		case ref.Controller != nil && *ref.Controller:
			return true
		}
	}
	return false
}

// hasNonControllerOwner: the set or pod owns the claim without being its controller.
func hasNonControllerOwner(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	for _, ref := range claim.OwnerReferences {
		if (ref.UID == set.UID || ref.UID == pod.UID) && (ref.Controller == nil || !*ref.Controller) {
			return true
		}
	}
	return false
}

// isClaimOwnerUpToDate reports whether claim's ownerReferences carry out set's
// policy. Claims left by an earlier set or pod, or controlled by someone else, are
// left alone.
func isClaimOwnerUpToDate(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	if hasStaleOwnerRef(claim, set, controllerKind) || hasStaleOwnerRef(claim, pod, podKind) {
		return true
	}
	if hasUnexpectedController(claim, set, pod) {
		return !hasOwnerRef(claim, set) && !hasOwnerRef(claim, pod)
	}
	if hasNonControllerOwner(claim, set, pod) {
		return false
	}
	p := retentionPolicy(set)
	scaledDown := !podInOrdinalRange(pod, set)
	switch {
	case p.WhenScaled == retain && p.WhenDeleted == del:
		return hasOwnerRef(claim, set) && !hasOwnerRef(claim, pod)
	case p.WhenScaled == del && p.WhenDeleted == retain:
		return !hasOwnerRef(claim, set) && scaledDown == hasOwnerRef(claim, pod)
	case p.WhenScaled == del && p.WhenDeleted == del:
		return scaledDown != hasOwnerRef(claim, set) && scaledDown == hasOwnerRef(claim, pod)
	default: // Retain/Retain, or an unknown policy treated as Retain
		return !hasOwnerRef(claim, set) && !hasOwnerRef(claim, pod)
	}
}

// updateClaimOwnerRefs rewrites claim's references to the set and pod for set's policy.
func updateClaimOwnerRefs(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) {
	unexpected := hasUnexpectedController(claim, set, pod)
	var refs []metav1.OwnerReference
	for i := range claim.OwnerReferences {
		ref := &claim.OwnerReferences[i]
		if !matchesRef(ref, set, controllerKind) && !matchesRef(ref, pod, podKind) {
			refs = append(refs, *ref)
		}
	}
	if !unexpected {
		p := retentionPolicy(set)
		scaledDown := !podInOrdinalRange(pod, set)
		if p.WhenScaled == del && scaledDown {
			refs = append(refs, *metav1.NewControllerRef(pod, podKind))
		}
		if p.WhenDeleted == del && (p.WhenScaled == retain || !scaledDown) {
			refs = append(refs, *metav1.NewControllerRef(set, controllerKind))
		}
	}
	claim.OwnerReferences = refs
}
