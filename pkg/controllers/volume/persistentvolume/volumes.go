package persistentvolume

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
)

// Event reasons of volumes, as upstream's.
const (
	eventVolumeFailedDelete         = "VolumeFailedDelete"
	eventVolumeFailedRecycle        = "VolumeFailedRecycle"
	eventVolumeUnknownReclaimPolicy = "VolumeUnknownReclaimPolicy"
)

func (pc *Controller) syncVolumeKey(ctx context.Context, name string) error {
	volume, err := pc.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return pc.syncVolume(ctx, volume)
}

func (pc *Controller) syncVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	ref := volume.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		// Unused, or reserved for a claim that has not bound to it yet (the
		// claim's sync does that).
		_, err := pc.updateVolumePhase(ctx, volume, corev1.VolumeAvailable, "")
		return err
	}
	claim, err := pc.claimOf(ctx, volume)
	if err != nil {
		return err
	}
	logger := klog.FromContext(ctx)
	switch {
	case claim == nil:
		// The claim is gone: release the volume (keeping a Failed phase for the
		// user to see) and reclaim it.
		if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			logger.V(2).Info("Volume is released and reclaim policy will be executed", "volumeName", volume.Name, "reclaimPolicy", volume.Spec.PersistentVolumeReclaimPolicy)
			if volume, err = pc.updateVolumePhase(ctx, volume, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return pc.reclaimVolume(ctx, volume)
	case claim.Spec.VolumeName == "":
		if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
			pc.recorder.Event(volume, corev1.EventTypeWarning, eventVolumeMismatch, fmt.Sprintf("Cannot bind PersistentVolume to requested PersistentVolumeClaim %q due to incompatible volumeMode.", claim.Name))
			pc.recorder.Event(claim, corev1.EventTypeWarning, eventVolumeMismatch, fmt.Sprintf("Cannot bind PersistentVolume %q to requested PersistentVolumeClaim due to incompatible volumeMode.", volume.Name))
			return nil
		}
		// Half bound (or just provisioned for the claim): the claim's sync binds it.
		pc.claimQueue.Add(claimKey(claim))
		return nil
	case claim.Spec.VolumeName == volume.Name:
		_, err = pc.updateVolumePhase(ctx, volume, corev1.VolumeBound, "")
		return err
	case metav1.HasAnnotation(volume.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned) &&
		volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		// Provisioned for a claim that got bound to another volume: not needed.
		if volume.Status.Phase != corev1.VolumeReleased && volume.Status.Phase != corev1.VolumeFailed {
			if volume, err = pc.updateVolumePhase(ctx, volume, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return pc.reclaimVolume(ctx, volume)
	default:
		// Bound to a claim that is bound elsewhere: undo the controller's binding,
		// or leave a user's pre-binding waiting for the claim.
		return pc.unbindVolume(ctx, volume)
	}
}

// claimOf finds the claim a volume's claimRef names, asking the API server when
// the cache does not have it (a claim just created must not get its volume
// released) or has another one by that name.
func (pc *Controller) claimOf(ctx context.Context, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	ref := volume.Spec.ClaimRef
	claim, err := pc.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	released := volume.Status.Phase == corev1.VolumeReleased || volume.Status.Phase == corev1.VolumeFailed
	if (claim == nil && !released) || (claim != nil && claim.UID != ref.UID) {
		claim, err = pc.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if claim != nil && claim.UID != ref.UID {
		return nil, nil // deleted and created again under the same name
	}
	return claim, nil
}

// reclaimVolume applies a released volume's reclaim policy.
func (pc *Controller) reclaimVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	switch volume.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		return nil
	case corev1.PersistentVolumeReclaimRecycle:
		_, err := pc.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, eventVolumeFailedRecycle, "No recycler plugin found for the volume!")
		return err
	case corev1.PersistentVolumeReclaimDelete:
		if p := volume.Annotations[storagehelpers.AnnDynamicallyProvisioned]; p != "" && !strings.HasPrefix(p, "kubernetes.io/") {
			// An external provisioner (local-path included) deletes its volumes.
			klog.FromContext(ctx).V(3).Info("External deleter for volume requested, ignoring", "volumeName", volume.Name)
			return nil
		}
		msg := fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", volume.Name)
		_, err := pc.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, eventVolumeFailedDelete, msg)
		return err
	default:
		_, err := pc.updateVolumePhaseWithEvent(ctx, volume, corev1.VolumeFailed, corev1.EventTypeWarning, eventVolumeUnknownReclaimPolicy, "Volume has unrecognized PersistentVolumeReclaimPolicy")
		return err
	}
}

// bind binds volume and claim to each other and marks both Bound, volume first.
func (pc *Controller) bind(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	v, dirty, err := storagehelpers.GetBindVolumeToClaim(volume, claim)
	if err != nil {
		return err
	}
	if dirty {
		if volume, err = pc.client.CoreV1().PersistentVolumes().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("binding volume %q to claim %q: %w", v.Name, claimKey(claim), err)
		}
		klog.FromContext(ctx).V(2).Info("Claim bound to volume", "PVC", klog.KObj(claim), "volumeName", volume.Name)
	}
	if volume, err = pc.updateVolumePhase(ctx, volume, corev1.VolumeBound, ""); err != nil {
		return err
	}
	if claim, err = pc.bindClaimToVolume(ctx, claim, volume); err != nil {
		return err
	}
	_, err = pc.updateClaimStatus(ctx, claim, corev1.ClaimBound, volume)
	return err
}

func (pc *Controller) bindClaimToVolume(ctx context.Context, claim *corev1.PersistentVolumeClaim, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	c := claim.DeepCopy()
	dirty := false
	if c.Spec.VolumeName != volume.Name {
		c.Spec.VolumeName = volume.Name
		if !metav1.HasAnnotation(c.ObjectMeta, storagehelpers.AnnBoundByController) {
			metav1.SetMetaDataAnnotation(&c.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
		}
		dirty = true
	}
	if !metav1.HasAnnotation(c.ObjectMeta, storagehelpers.AnnBindCompleted) {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, storagehelpers.AnnBindCompleted, "yes")
		dirty = true
	}
	if !dirty {
		return claim, nil
	}
	updated, err := pc.client.CoreV1().PersistentVolumeClaims(c.Namespace).Update(ctx, c, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("binding claim %q to volume %q: %w", claimKey(claim), volume.Name, err)
	}
	return updated, nil
}

// unbindVolume rolls a binding back: a binding the controller made is removed, a
// user's pre-binding keeps the claim's name without its UID.
func (pc *Controller) unbindVolume(ctx context.Context, volume *corev1.PersistentVolume) error {
	v := volume.DeepCopy()
	if metav1.HasAnnotation(v.ObjectMeta, storagehelpers.AnnBoundByController) {
		v.Spec.ClaimRef = nil
		delete(v.Annotations, storagehelpers.AnnBoundByController)
		if len(v.Annotations) == 0 {
			v.Annotations = nil
		}
	} else {
		v.Spec.ClaimRef.UID = ""
	}
	updated, err := pc.client.CoreV1().PersistentVolumes().Update(ctx, v, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	_, err = pc.updateVolumePhase(ctx, updated, corev1.VolumeAvailable, "")
	return err
}

// updateVolumePhase writes a volume's phase (and message) when it changed.
func (pc *Controller) updateVolumePhase(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if volume.Status.Phase == phase {
		return volume, nil
	}
	v := volume.DeepCopy()
	v.Status.Phase = phase
	v.Status.Message = message
	now := metav1.Now()
	v.Status.LastPhaseTransitionTime = &now
	updated, err := pc.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, v, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("updating volume %q phase to %s: %w", volume.Name, phase, err)
	}
	klog.FromContext(ctx).V(2).Info("Volume entered phase", "volumeName", volume.Name, "phase", phase)
	return updated, nil
}

// updateVolumePhaseWithEvent also records an event, only when the phase changes.
func (pc *Controller) updateVolumePhaseWithEvent(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, eventType, reason, message string) (*corev1.PersistentVolume, error) {
	if volume.Status.Phase == phase {
		return volume, nil
	}
	updated, err := pc.updateVolumePhase(ctx, volume, phase, message)
	if err != nil {
		return nil, err
	}
	pc.recorder.Event(updated, eventType, reason, message)
	return updated, nil
}

// updateClaimStatus writes a claim's phase, and its capacity and access modes
// from the volume it is bound to (cleared without one), when they changed.
func (pc *Controller) updateClaimStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	c := claim.DeepCopy()
	c.Status.Phase = phase
	if volume == nil {
		c.Status.AccessModes, c.Status.Capacity = nil, nil
	} else {
		c.Status.AccessModes = volume.Spec.AccessModes
		if _, ok := volume.Spec.Capacity[corev1.ResourceStorage]; !ok {
			return nil, fmt.Errorf("PersistentVolume %q is without a storage capacity", volume.Name)
		}
		c.Status.Capacity = volume.Spec.Capacity
	}
	if apiequality.Semantic.DeepEqual(c.Status, claim.Status) {
		return claim, nil
	}
	updated, err := pc.client.CoreV1().PersistentVolumeClaims(c.Namespace).UpdateStatus(ctx, c, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("updating claim %q phase to %s: %w", claimKey(claim), phase, err)
	}
	if claim.Status.Phase != phase {
		klog.FromContext(ctx).V(2).Info("Claim entered phase", "PVC", klog.KObj(claim), "phase", phase)
	}
	return updated, nil
}

// updateClaimStatusWithEvent also records an event, only when the phase changes.
func (pc *Controller) updateClaimStatusWithEvent(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume, eventType, reason, message string) (*corev1.PersistentVolumeClaim, error) {
	if claim.Status.Phase == phase {
		return claim, nil
	}
	updated, err := pc.updateClaimStatus(ctx, claim, phase, volume)
	if err != nil {
		return nil, err
	}
	pc.recorder.Event(updated, eventType, reason, message)
	return updated, nil
}
