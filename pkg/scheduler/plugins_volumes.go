package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// Reasons of VolumeBinding, in upstream's words.
const (
	reasonVolumeNodeAffinity = "node(s) had volume node affinity conflict"
	reasonPVNotExist         = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
	reasonUnboundImmediate   = "pod has unbound immediate PersistentVolumeClaims"
)

// selectedNodeAnnotation tells a provisioner of a WaitForFirstConsumer claim where
// the pod went, so the volume is made on (or for) that node.
const selectedNodeAnnotation = "volume.kubernetes.io/selected-node"

// volumeBinding keeps pods whose claims are bound to node-local volumes (a
// PersistentVolume with node affinity, as local and local-path volumes have) on
// the nodes those volumes live on; it holds pods back while a claim is missing or
// waits for immediate binding; and for WaitForFirstConsumer claims it names the
// chosen node on the claim before the pod is bound, for the provisioner.
type volumeBinding struct {
	client  kubernetes.Interface
	pvcs    corelisters.PersistentVolumeClaimLister
	pvs     corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
}

func (volumeBinding) Name() string { return "VolumeBinding" }

type volumeState struct {
	// affinity holds the node affinity of each bound volume that has one.
	affinity []*corev1.VolumeNodeAffinity
}

// claimNames lists the pod's claims, generic ephemeral volumes' included.
func claimNames(pod *corev1.Pod) []string {
	var names []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			names = append(names, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			names = append(names, pod.Name+"-"+v.Name)
		}
	}
	return names
}

func (pl volumeBinding) PreFilter(state *CycleState, pod *corev1.Pod, _ []*NodeInfo) *Status {
	s := &volumeState{}
	state.data[pl.Name()] = s
	for _, name := range claimNames(pod) {
		pvc, err := pl.pvcs.PersistentVolumeClaims(pod.Namespace).Get(name)
		if err != nil {
			return unresolvable(fmt.Sprintf("persistentvolumeclaim %q not found", name))
		}
		if pvc.DeletionTimestamp != nil {
			return unresolvable(fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		}
		if pvc.Spec.VolumeName != "" {
			pv, err := pl.pvs.Get(pvc.Spec.VolumeName)
			if err != nil {
				return unresolvable(reasonPVNotExist)
			}
			if pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil {
				s.affinity = append(s.affinity, pv.Spec.NodeAffinity)
			}
			continue
		}
		if !pl.delayed(pvc) {
			return unresolvable(reasonUnboundImmediate)
		}
	}
	return nil
}

// delayed reports whether an unbound claim waits for its first consumer.
func (pl volumeBinding) delayed(pvc *corev1.PersistentVolumeClaim) bool {
	name := ""
	if pvc.Spec.StorageClassName != nil {
		name = *pvc.Spec.StorageClassName
	}
	if name == "" {
		return false
	}
	sc, err := pl.classes.Get(name)
	return err == nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

func (pl volumeBinding) Filter(state *CycleState, _ *corev1.Pod, n *NodeInfo) *Status {
	s := state.data[pl.Name()].(*volumeState)
	for _, a := range s.affinity {
		if ok, _ := corev1helpers.MatchNodeSelectorTerms(n.Node, a.Required); !ok {
			return unresolvable(reasonVolumeNodeAffinity)
		}
	}
	return nil
}

// PreBind names the node on the pod's unbound WaitForFirstConsumer claims.
func (pl volumeBinding) PreBind(ctx context.Context, pod *corev1.Pod, node string) error {
	for _, name := range claimNames(pod) {
		pvc, err := pl.pvcs.PersistentVolumeClaims(pod.Namespace).Get(name)
		if err != nil || pvc.Spec.VolumeName != "" || !pl.delayed(pvc) || pvc.Annotations[selectedNodeAnnotation] == node {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{selectedNodeAnnotation: node}}})
		_, err = pl.client.CoreV1().PersistentVolumeClaims(pod.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("annotate persistentvolumeclaim %s/%s with the selected node: %w", pod.Namespace, name, err)
		}
	}
	return nil
}
