// Package volume prepares a pod's volumes on the node for the kubelet.
//
// The kubelet core calls Mount before it creates a pod's containers and gets, for
// every pod volume name, the host path to bind into the containers:
//
//	m := &volume.Manager{Client: cs, RootDir: filepath.Join(dataDir, "agent", "pods"), NodeName: node}
//	mounts, err := m.Mount(ctx, pod) // map[volumeName]Mounted
//	// a container's volumeMount{Name, MountPath, SubPath, ReadOnly} becomes a bind mount of
//	// volume.SubPath(mounts[Name].HostPath, SubPath) (just HostPath without a subPath),
//	// read-only when volumeMount.ReadOnly || mounts[Name].ReadOnly.
//
// Mount is idempotent: call it on every pod sync. Refresh re-projects configMap, secret,
// downwardAPI and projected volumes (new data, labels, and service-account tokens past
// 80% of their lifetime) so that updates reach running pods; call it periodically
// (upstream syncs about every minute). Unmount(podUID) tears down a pod's volumes once
// its containers are gone and removes <RootDir>/<uid> with everything under it, and
// Cleanup(live) does so for every pod directory not in live (after a restart).
//
// Layout under RootDir, as upstream's kubelet lays out /var/lib/kubelet/pods:
//
//	<uid>/volumes/kubernetes.io~empty-dir/<name>   emptyDir (tmpfs for medium Memory)
//	<uid>/volumes/kubernetes.io~configmap/<name>   configMap
//	<uid>/volumes/kubernetes.io~secret/<name>      secret (tmpfs)
//	<uid>/volumes/kubernetes.io~downward-api/<name>
//	<uid>/volumes/kubernetes.io~projected/<name>   projected (tmpfs)
//
// Projected files are written as upstream's AtomicWriter does: the data lives in a
// timestamped directory "..<ts>", "..data" links to it and each visible name links
// into "..data", so an update swaps one symlink and readers never see half a payload.
//
// hostPath volumes, persistentVolumeClaims (bound to hostPath or local PVs, as the
// local-path provisioner makes) and generic ephemeral volumes (their <pod>-<volume>
// claim) resolve to the host path itself and are never removed.
//
// Errors from Mount are *MountError values whose text is upstream's FailedMount event
// message ("MountVolume.SetUp failed for volume \"x\" : configmap \"y\" not found"); the
// wrapped error keeps apierrors.IsNotFound for a missing ConfigMap or Secret, which the
// core reports as CreateContainerConfigError.
//
// securityContext.fsGroup is applied as upstream does: emptyDirs belong to the group
// with the setgid bit, projected files are group-owned and group-readable.
//
// Not done here: emptyDir.sizeLimit on disk is enforced by eviction (the core measures
// usage); projected tokens are not chowned to a common runAsUser (they are 0644 unless
// the pod says otherwise); clusterTrustBundle projections are accepted only when
// optional, and project nothing.
package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/pkg/kubelet/objcache"
)

// Manager sets up and tears down the volumes of the pods on one node.
type Manager struct {
	// Client reads ConfigMaps, Secrets, PVCs, PVs and the Node, and requests tokens.
	Client kubernetes.Interface
	// Sources serve the ConfigMaps and Secrets volumes project (watched,
	// not read per mount).
	Sources *objcache.Sources
	// RootDir holds one directory per pod UID (<data-dir>/agent/pods).
	RootDir string
	// NodeName is the node whose allocatable resources stand in for unset limits in
	// downward-API resourceFieldRefs.
	NodeName string
	// NoTmpfs keeps Memory-medium emptyDirs, secrets and projected volumes on disk;
	// for tests that cannot mount.
	NoTmpfs bool

	mu     sync.Mutex
	tokens map[tokenKey]*cachedToken
	// pods serializes Mount, Refresh and Unmount of one pod (a *sync.Mutex per UID):
	// a periodic Refresh must not swap ..data under a sync's Mount.
	pods sync.Map
}

func (m *Manager) lockPod(uid types.UID) func() {
	l, _ := m.pods.LoadOrStore(uid, &sync.Mutex{})
	mu := l.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Mounted is where a pod volume is on the host.
type Mounted struct {
	// HostPath is the directory (or, for some hostPath volumes, file or socket) to bind.
	HostPath string
	// ReadOnly is set when the volume itself must be mounted read-only (configMap,
	// secret, downwardAPI and projected volumes always are, as upstream mounts them;
	// hostPath/PVC when the pod asks).
	ReadOnly bool
}

// MountError is the failure to set up one volume of a pod.
type MountError struct {
	Volume string
	Err    error
}

func (e *MountError) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}

func (e *MountError) Unwrap() error { return e.Err }

// Plugin directory names, as upstream's kubelet names them.
const (
	dirEmptyDir   = "kubernetes.io~empty-dir"
	dirConfigMap  = "kubernetes.io~configmap"
	dirSecret     = "kubernetes.io~secret"
	dirDownward   = "kubernetes.io~downward-api"
	dirProjected  = "kubernetes.io~projected"
	volumesSubdir = "volumes"
)

// PodDir is the directory of a pod's volumes and other node-side files.
func (m *Manager) PodDir(uid types.UID) string { return filepath.Join(m.RootDir, string(uid)) }

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.PodDir(uid), volumesSubdir, plugin, name)
}

// Mount sets up every volume of pod and returns where each one is, by volume name.
// It stops at the first volume that fails.
func (m *Manager) Mount(ctx context.Context, pod *corev1.Pod) (map[string]Mounted, error) {
	defer m.lockPod(pod.UID)()
	out := make(map[string]Mounted, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		mt, err := m.mountOne(ctx, pod, v, false)
		if err != nil {
			return nil, &MountError{Volume: v.Name, Err: err}
		}
		out[v.Name] = mt
	}
	return out, nil
}

// Refresh re-projects the pod's configMap, secret, downwardAPI and projected volumes
// from current objects, renewing service-account tokens near expiry. Volumes that were
// never mounted are mounted. Errors are returned per volume, joined.
func (m *Manager) Refresh(ctx context.Context, pod *corev1.Pod) error {
	defer m.lockPod(pod.UID)()
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.ConfigMap == nil && v.Secret == nil && v.DownwardAPI == nil && v.Projected == nil {
			continue
		}
		if _, err := m.mountOne(ctx, pod, v, true); err != nil {
			errs = append(errs, &MountError{Volume: v.Name, Err: err})
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) mountOne(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, refresh bool) (Mounted, error) {
	switch {
	case v.EmptyDir != nil:
		dir := m.volumeDir(pod.UID, dirEmptyDir, v.Name)
		var err error
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			err = m.ensureTmpfs(dir, tmpfsSize(pod, v.EmptyDir))
		} else {
			err = mkdirPerm(dir, 0o777)
		}
		if err == nil {
			err = setGroupOwnership(dir, fsGroup(pod))
		}
		return Mounted{HostPath: dir}, err
	case v.ConfigMap != nil:
		dir := m.volumeDir(pod.UID, dirConfigMap, v.Name)
		return m.project(ctx, pod, dir, false, func() (map[string]fileData, error) { return m.configMapPayload(ctx, pod, v.ConfigMap) })
	case v.Secret != nil:
		dir := m.volumeDir(pod.UID, dirSecret, v.Name)
		return m.project(ctx, pod, dir, true, func() (map[string]fileData, error) { return m.secretPayload(ctx, pod, v.Secret) })
	case v.DownwardAPI != nil:
		dir := m.volumeDir(pod.UID, dirDownward, v.Name)
		return m.project(ctx, pod, dir, false, func() (map[string]fileData, error) { return m.downwardPayload(ctx, pod, v.DownwardAPI) })
	case v.Projected != nil:
		dir := m.volumeDir(pod.UID, dirProjected, v.Name)
		return m.project(ctx, pod, dir, true, func() (map[string]fileData, error) { return m.projectedPayload(ctx, pod, v.Projected) })
	case v.HostPath != nil:
		return mountHostPath(v.HostPath.Path, v.HostPath.Type, false)
	case v.PersistentVolumeClaim != nil:
		return m.mountPVC(ctx, pod, v.PersistentVolumeClaim, false)
	case v.Ephemeral != nil:
		// A generic ephemeral volume is the claim <pod>-<volume> the ephemeral-volume
		// controller made for this pod.
		return m.mountPVC(ctx, pod, &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pod.Name + "-" + v.Name}, true)
	}
	return Mounted{}, fmt.Errorf("volume type is not supported by this node")
}

// project sets up dir (on tmpfs when memory is set) and writes the payload atomically.
func (m *Manager) project(ctx context.Context, pod *corev1.Pod, dir string, memory bool, payload func() (map[string]fileData, error)) (Mounted, error) {
	// Fetch first, so a missing ConfigMap leaves no empty directory behind.
	files, err := payload()
	if err != nil {
		return Mounted{}, err
	}
	gid := fsGroup(pod)
	if gid >= 0 {
		// As upstream's SetVolumeOwnership on a read-only volume: the fsGroup may read.
		for p, f := range files {
			f.Mode |= 0o440
			files[p] = f
		}
	}
	if memory {
		if err := m.ensureTmpfs(dir, 0); err != nil {
			return Mounted{}, err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return Mounted{}, err
	}
	if err := writeAtomic(dir, files, gid); err != nil {
		return Mounted{}, err
	}
	return Mounted{HostPath: dir, ReadOnly: true}, nil
}

func mkdirPerm(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	// MkdirAll applies the umask; emptyDirs are world-writable as upstream makes them.
	return os.Chmod(dir, perm)
}

// fsGroup is the pod's securityContext.fsGroup, or -1.
func fsGroup(pod *corev1.Pod) int {
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		return int(*sc.FSGroup)
	}
	return -1
}

// setGroupOwnership gives a writable volume directory to the fsGroup, with the setgid
// bit so that files created in it inherit the group, as upstream does.
func setGroupOwnership(dir string, gid int) error {
	if gid < 0 {
		return nil
	}
	if err := os.Lchown(dir, -1, gid); err != nil {
		return err
	}
	return os.Chmod(dir, 0o777|os.ModeSetgid)
}

// Unmount tears down the volumes of the pod with uid (unmounting tmpfs) and removes
// its directory. Host paths of hostPath volumes and PVs are left alone.
func (m *Manager) Unmount(ctx context.Context, uid types.UID) error {
	unlock := m.lockPod(uid)
	defer func() { unlock(); m.pods.Delete(uid) }()
	m.forgetTokens(uid)
	pod := m.PodDir(uid)
	plugins, err := os.ReadDir(filepath.Join(pod, volumesSubdir))
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("unmount volumes of pod %s: %w", uid, err)
	}
	for _, p := range plugins {
		vols, err := os.ReadDir(filepath.Join(pod, volumesSubdir, p.Name()))
		if err != nil {
			continue
		}
		for _, v := range vols {
			if err := unmountIfMounted(filepath.Join(pod, volumesSubdir, p.Name(), v.Name())); err != nil {
				return fmt.Errorf("unmount volume %s of pod %s: %w", v.Name(), uid, err)
			}
		}
	}
	if err := os.RemoveAll(pod); err != nil {
		return fmt.Errorf("remove directory of pod %s: %w", uid, err)
	}
	return nil
}

// Cleanup unmounts and removes the directory of every pod under RootDir whose UID
// is not in live; for orphans left by a restart or a missed deletion.
func (m *Manager) Cleanup(ctx context.Context, live map[types.UID]bool) error {
	ents, err := os.ReadDir(m.RootDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || live[types.UID(e.Name())] {
			continue
		}
		if err := m.Unmount(ctx, types.UID(e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
