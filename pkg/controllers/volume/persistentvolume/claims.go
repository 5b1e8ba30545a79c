package persistentvolume

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
)

// Event reasons, as upstream's pkg/controller/volume/events.
const (
	eventFailedBinding        = "FailedBinding"
	eventVolumeMismatch       = "VolumeMismatch"
	eventClaimLost            = "ClaimLost"
	eventClaimMisbound        = "ClaimMisbound"
	eventProvisioningFailed   = "ProvisioningFailed"
	eventExternalProvisioning = "ExternalProvisioning"
	eventWaitForFirstConsumer = "WaitForFirstConsumer"
)

// Default-class annotations (the beta one is still honoured upstream).
const (
	annDefaultClass     = "storageclass.kubernetes.io/is-default-class"
	annBetaDefaultClass = "storageclass.beta.kubernetes.io/is-default-class"
)

func (pc *Controller) syncClaimKey(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := pc.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return pc.syncBoundClaim(ctx, claim)
	}
	return pc.syncUnboundClaim(ctx, claim)
}

func (pc *Controller) syncUnboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName != "" {
		return pc.syncPreboundClaim(ctx, claim)
	}
	if claim.Spec.StorageClassName == nil {
		// Retroactive default class: a claim created before any default class
		// existed (or without the admission plugin) gets it now.
		if assigned, err := pc.assignDefaultClass(ctx, claim); assigned || err != nil {
			return err
		}
	}
	delayBinding, err := storagehelpers.IsDelayBindingMode(claim, pc.classes)
	if err != nil {
		return err
	}
	volume, err := pc.findBestMatch(claim, delayBinding)
	if err != nil {
		return err
	}
	if volume != nil {
		return pc.bind(ctx, volume, claim)
	}
	switch {
	case delayBinding && !storagehelpers.IsDelayBindingProvisioning(claim):
		pc.recorder.Event(claim, corev1.EventTypeNormal, eventWaitForFirstConsumer, "waiting for first consumer to be created before binding")
	case storagehelpers.GetPersistentVolumeClaimClass(claim) != "":
		return pc.provisionClaim(ctx, claim)
	default:
		pc.recorder.Event(claim, corev1.EventTypeNormal, eventFailedBinding, "no persistent volumes available for this claim and no storage class is set")
	}
	_, err = pc.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
	return err
}

// findBestMatch finds the volume for a claim as upstream's volume index does: among
// the volumes whose access modes include the claim's, those with the fewest modes
// are tried first, so that a ReadWriteOnce claim does not take a volume that could
// serve a ReadWriteMany one.
func (pc *Controller) findBestMatch(claim *corev1.PersistentVolumeClaim, delayBinding bool) (*corev1.PersistentVolume, error) {
	all, err := pc.volumes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	bySize := map[int][]*corev1.PersistentVolume{}
	var sizes []int
	for _, v := range all {
		if !storagehelpers.CheckAccessModes(claim, v) {
			continue
		}
		n := len(v.Spec.AccessModes)
		if _, ok := bySize[n]; !ok {
			sizes = append(sizes, n)
		}
		bySize[n] = append(bySize[n], v)
	}
	sort.Ints(sizes)
	for _, n := range sizes {
		v, err := storagehelpers.FindMatchingVolume(claim, bySize[n], nil, nil, delayBinding, true)
		if v != nil || err != nil {
			return v, err
		}
	}
	return nil, nil
}

// syncPreboundClaim handles a claim that names its volume.
func (pc *Controller) syncPreboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	volume, err := pc.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		// The volume it asks for does not exist (yet): Pending, retried by resync.
		_, err = pc.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	if err != nil {
		return err
	}
	switch {
	case volume.Spec.ClaimRef == nil:
		if err := checkVolumeSatisfyClaim(volume, claim); err != nil {
			pc.recorder.Event(claim, corev1.EventTypeWarning, eventVolumeMismatch, fmt.Sprintf("Cannot bind to requested volume %q: %s", volume.Name, err))
			_, err = pc.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
			return err
		}
		return pc.bind(ctx, volume, claim)
	case storagehelpers.IsVolumeBoundToClaim(volume, claim):
		return pc.bind(ctx, volume, claim)
	case !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBoundByController):
		// The volume the user asked for is someone else's; wait for it.
		_, err = pc.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	default:
		return fmt.Errorf("invalid binding of claim %q to volume %q: volume already claimed by %q",
			claimKey(claim), volume.Name, volume.Spec.ClaimRef.Namespace+"/"+volume.Spec.ClaimRef.Name)
	}
}

func (pc *Controller) syncBoundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName == "" {
		_, err := pc.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, nil, corev1.EventTypeWarning, eventClaimLost,
			"Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
		return err
	}
	volume, err := pc.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		_, err = pc.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, nil, corev1.EventTypeWarning, eventClaimLost,
			"Bound claim has lost its PersistentVolume. Data on the volume is lost!")
		return err
	}
	if err != nil {
		return err
	}
	if volume.Spec.ClaimRef == nil || volume.Spec.ClaimRef.UID == claim.UID {
		// Bound, or the volume came unbound (or its update is not seen yet):
		// (re)bind, which changes nothing when all is set already.
		return pc.bind(ctx, volume, claim)
	}
	_, err = pc.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, nil, corev1.EventTypeWarning, eventClaimMisbound,
		"Two claims are bound to the same volume, this one is bound incorrectly")
	return err
}

// checkVolumeSatisfyClaim says why a volume a claim names cannot serve it.
func checkVolumeSatisfyClaim(volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	if volume.DeletionTimestamp != nil {
		return fmt.Errorf("the volume is marked for deletion %q", volume.Name)
	}
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := volume.Spec.Capacity[corev1.ResourceStorage]
	if capacity.Cmp(requested) < 0 {
		return fmt.Errorf("requested PV is too small")
	}
	if storagehelpers.GetPersistentVolumeClass(volume) != storagehelpers.GetPersistentVolumeClaimClass(claim) {
		return fmt.Errorf("storageClassName does not match")
	}
	if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
		return fmt.Errorf("incompatible volumeMode")
	}
	if !storagehelpers.CheckAccessModes(claim, volume) {
		return fmt.Errorf("incompatible accessMode")
	}
	return nil
}

// assignDefaultClass sets the default StorageClass on a claim without one; it
// reports whether it did (the update brings the claim back).
func (pc *Controller) assignDefaultClass(ctx context.Context, claim *corev1.PersistentVolumeClaim) (bool, error) {
	class, err := defaultClass(pc.classes)
	if err != nil || class == nil {
		return false, err
	}
	c := claim.DeepCopy()
	c.Spec.StorageClassName = &class.Name
	if _, err := pc.client.CoreV1().PersistentVolumeClaims(c.Namespace).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		return false, err
	}
	klog.FromContext(ctx).V(4).Info("Assigned the default StorageClass to a claim", "PVC", klog.KObj(claim), "storageClass", class.Name)
	return true, nil
}

// defaultClass is the default StorageClass, the newest when several are marked.
func defaultClass(lister interface {
	List(labels.Selector) ([]*storagev1.StorageClass, error)
}) (*storagev1.StorageClass, error) {
	classes, err := lister.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var best *storagev1.StorageClass
	for _, c := range classes {
		if c.Annotations[annDefaultClass] != "true" && c.Annotations[annBetaDefaultClass] != "true" {
			continue
		}
		if best == nil || c.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(c.CreationTimestamp.Equal(&best.CreationTimestamp) && c.Name < best.Name) {
			best = c
		}
	}
	return best, nil
}

// provisionClaim hands the claim to its class's provisioner: every provisioner is
// external to this controller (the built-in local-path one included), so it
// annotates the claim and waits, as upstream does for CSI drivers.
func (pc *Controller) provisionClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	className := storagehelpers.GetPersistentVolumeClaimClass(claim)
	class, err := pc.classes.Get(className)
	if err != nil {
		if apierrors.IsNotFound(err) {
			pc.recorder.Event(claim, corev1.EventTypeWarning, eventProvisioningFailed, fmt.Sprintf("storageclass.storage.k8s.io %q not found", className))
			return nil
		}
		return err
	}
	provisioner := class.Provisioner
	if claim.Annotations[storagehelpers.AnnStorageProvisioner] != provisioner || claim.Annotations[storagehelpers.AnnBetaStorageProvisioner] != provisioner {
		c := claim.DeepCopy()
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, storagehelpers.AnnStorageProvisioner, provisioner)
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, storagehelpers.AnnBetaStorageProvisioner, provisioner)
		if claim, err = pc.client.CoreV1().PersistentVolumeClaims(c.Namespace).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	pc.recorder.Event(claim, corev1.EventTypeNormal, eventExternalProvisioning, fmt.Sprintf(
		"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
		provisioner))
	return nil
}

func claimKey(c *corev1.PersistentVolumeClaim) string { return c.Namespace + "/" + c.Name }
