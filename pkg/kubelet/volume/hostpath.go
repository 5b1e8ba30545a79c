package volume

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mountHostPath checks path against the hostPath type as upstream does, creating it
// for the …OrCreate types.
func mountHostPath(path string, typ *corev1.HostPathType, readOnly bool) (Mounted, error) {
	if err := checkHostPathType(path, typ); err != nil {
		return Mounted{}, err
	}
	return Mounted{HostPath: path, ReadOnly: readOnly}, nil
}

func checkHostPathType(path string, typ *corev1.HostPathType) error {
	if typ == nil || *typ == corev1.HostPathUnset {
		// No check, but a missing path becomes a directory, as containerd's CRI
		// plugin makes it for a bind mount source (runc would fail otherwise).
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			return os.MkdirAll(path, 0o755)
		}
		return nil
	}
	fi, statErr := os.Stat(path)
	is := func(ok bool, what string) error {
		if statErr != nil || !ok {
			return fmt.Errorf("hostPath type check failed: %s is not a %s", path, what)
		}
		return nil
	}
	switch *typ {
	case corev1.HostPathDirectoryOrCreate:
		if os.IsNotExist(statErr) {
			return os.MkdirAll(path, 0o755)
		}
		return is(statErr == nil && fi.IsDir(), "directory")
	case corev1.HostPathDirectory:
		return is(statErr == nil && fi.IsDir(), "directory")
	case corev1.HostPathFileOrCreate:
		if os.IsNotExist(statErr) {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return is(statErr == nil && fi.Mode().IsRegular(), "file")
	case corev1.HostPathFile:
		return is(statErr == nil && fi.Mode().IsRegular(), "file")
	case corev1.HostPathSocket:
		return is(statErr == nil && fi.Mode()&os.ModeSocket != 0, "socket file")
	case corev1.HostPathCharDev:
		return is(statErr == nil && fi.Mode()&os.ModeCharDevice != 0, "character device")
	case corev1.HostPathBlockDev:
		return is(statErr == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0, "block device")
	}
	return fmt.Errorf("%s is an invalid volume type", *typ)
}

// mountPVC resolves a claim to its bound PersistentVolume's hostPath or local path.
// An ephemeral claim must be owned by the pod, as upstream checks.
func (m *Manager) mountPVC(ctx context.Context, pod *corev1.Pod, src *corev1.PersistentVolumeClaimVolumeSource, ephemeral bool) (Mounted, error) {
	pvc, err := m.Client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, src.ClaimName, metav1.GetOptions{})
	if err != nil {
		return Mounted{}, fmt.Errorf("error processing PVC %s/%s: %w", pod.Namespace, src.ClaimName, err)
	}
	if ephemeral && !metav1.IsControlledBy(pvc, pod) {
		return Mounted{}, fmt.Errorf("error processing PVC %s/%s: PVC was not created for pod %s/%s (pod is not owner)", pod.Namespace, src.ClaimName, pod.Namespace, pod.Name)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return Mounted{}, fmt.Errorf("error processing PVC %s/%s: PVC is not bound", pod.Namespace, src.ClaimName)
	}
	pv, err := m.Client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return Mounted{}, fmt.Errorf("error processing PVC %s/%s: %w", pod.Namespace, src.ClaimName, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return mountHostPath(pv.Spec.HostPath.Path, pv.Spec.HostPath.Type, src.ReadOnly)
	case pv.Spec.Local != nil:
		if _, err := os.Stat(pv.Spec.Local.Path); err != nil {
			return Mounted{}, fmt.Errorf("local volume %s: %w", pv.Name, err)
		}
		return Mounted{HostPath: pv.Spec.Local.Path, ReadOnly: src.ReadOnly}, nil
	}
	return Mounted{}, fmt.Errorf("persistent volume %s: only hostPath and local volumes can be mounted on this node", pv.Name)
}
