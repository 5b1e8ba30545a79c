package localpath

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
)

// syncClaim provisions a volume for a claim the binder handed to this
// provisioner, once it has a node.
func (p *Provisioner) syncClaim(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := p.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !p.shouldProvision(claim) {
		return nil
	}
	class, err := p.classes.Get(storagehelpers.GetPersistentVolumeClaimClass(claim))
	if apierrors.IsNotFound(err) || (err == nil && class.Provisioner != ProvisionerName) {
		return nil
	}
	if err != nil {
		return err
	}
	nodeName := claim.Annotations[storagehelpers.AnnSelectedNode]
	if nodeName == "" && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		return nil // the scheduler has not picked a node yet
	}
	volumeName := "pvc-" + string(claim.UID)
	if _, err := p.volumes.Get(volumeName); err == nil {
		return nil // provisioned already; the binder binds it
	}
	p.recorder.Event(claim, corev1.EventTypeNormal, "Provisioning", fmt.Sprintf("External provisioner is provisioning volume for claim %q", key))
	volume, err := p.provision(claim, class, volumeName, nodeName)
	if err == nil {
		_, err = p.client.CoreV1().PersistentVolumes().Create(ctx, volume, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		p.recorder.Event(claim, corev1.EventTypeWarning, "ProvisioningFailed", fmt.Sprintf("failed to provision volume with StorageClass %q: %v", class.Name, err))
		return err
	}
	klog.FromContext(ctx).V(2).Info("Provisioned local-path volume", "PVC", klog.KObj(claim), "volumeName", volumeName, "node", nodeName)
	p.recorder.Event(claim, corev1.EventTypeNormal, "ProvisioningSucceeded", fmt.Sprintf("Successfully provisioned volume %s", volumeName))
	return nil
}

// shouldProvision: unbound, not being deleted, and handed to this provisioner.
func (p *Provisioner) shouldProvision(claim *corev1.PersistentVolumeClaim) bool {
	if claim.Spec.VolumeName != "" || claim.DeletionTimestamp != nil {
		return false
	}
	a := claim.Annotations
	return a[storagehelpers.AnnStorageProvisioner] == ProvisionerName || a[storagehelpers.AnnBetaStorageProvisioner] == ProvisionerName
}

// provision makes the volume's directory (on this machine's nodes) and returns the
// PersistentVolume to create, pre-bound to the claim.
func (p *Provisioner) provision(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, volumeName, nodeName string) (*corev1.PersistentVolume, error) {
	if nodeName == "" {
		return nil, fmt.Errorf("configuration error, no node was specified")
	}
	for _, m := range claim.Spec.AccessModes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return nil, fmt.Errorf("NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) access modes")
		}
	}
	if claim.Spec.Selector != nil {
		return nil, fmt.Errorf("claim.Spec.Selector is not supported")
	}
	node, err := p.nodes.Get(nodeName)
	if err != nil {
		return nil, fmt.Errorf("get node %s: %w", nodeName, err)
	}
	path := filepath.Join(p.storageDir, fmt.Sprintf("%s_%s_%s", volumeName, claim.Namespace, claim.Name))
	if p.isLocal(node) {
		// 0777 as k3s's helper pod makes it, whatever the umask: pods of any user
		// write to it.
		if err := os.MkdirAll(path, 0o777); err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o777); err != nil {
			return nil, fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	hostname := node.Labels[corev1.LabelHostname]
	if hostname == "" {
		hostname = node.Name
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	mode := corev1.PersistentVolumeFilesystem
	if claim.Spec.VolumeMode != nil {
		mode = *claim.Spec.VolumeMode
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name: volumeName,
			Annotations: map[string]string{
				storagehelpers.AnnDynamicallyProvisioned: ProvisionerName,
				annSelectedNode:                          nodeName,
			},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    &mode,
			ClaimRef: &corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID, ResourceVersion: claim.ResourceVersion},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &dirOrCreate},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname},
				}}}},
			}},
		},
	}, nil
}

// syncVolume deletes a released local-path volume of reclaim policy Delete: its
// directory first (on this machine's nodes), then the object.
func (p *Provisioner) syncVolume(ctx context.Context, name string) error {
	volume, err := p.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if volume.Annotations[storagehelpers.AnnDynamicallyProvisioned] != ProvisionerName ||
		volume.Status.Phase != corev1.VolumeReleased ||
		volume.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		volume.DeletionTimestamp != nil {
		return nil
	}
	if err := p.removeDirectory(volume); err != nil {
		p.recorder.Event(volume, corev1.EventTypeWarning, "VolumeFailedDelete", err.Error())
		return err
	}
	err = p.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &volume.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	klog.FromContext(ctx).V(2).Info("Deleted released local-path volume", "volumeName", name)
	return nil
}

// removeDirectory removes a volume's directory when it lives on this machine:
// its node is local, or gone and the directory is here. Only paths under the
// storage directory are ever removed.
func (p *Provisioner) removeDirectory(volume *corev1.PersistentVolume) error {
	hp := volume.Spec.HostPath
	if hp == nil {
		return nil
	}
	path := filepath.Clean(hp.Path)
	if filepath.Dir(path) != p.storageDir || !strings.HasPrefix(filepath.Base(path), volume.Name+"_") {
		return nil // not one of ours; leave it
	}
	node, err := p.nodes.Get(volume.Annotations[annSelectedNode])
	switch {
	case err == nil && !p.isLocal(node):
		return nil
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
