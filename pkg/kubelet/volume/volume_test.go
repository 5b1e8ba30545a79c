package volume

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/skiff-k8s/skiff/pkg/kubelet/objcache"
)

func ptr[T any](v T) *T { return &v }

func newManager(t *testing.T, objs ...runtime.Object) (*Manager, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	m := &Manager{Client: cs, Sources: objcache.NewSources(cs, time.Hour), RootDir: t.TempDir(), NodeName: "n1", NoTmpfs: os.Geteuid() != 0}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Sources.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		// Unmount any tmpfs so TempDir's removal succeeds.
		_ = m.Cleanup(context.Background(), nil)
	})
	return m, cs
}

func testPod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid-1", Labels: map[string]string{"app": "web", "tier": "a\"b"}},
		Spec: corev1.PodSpec{NodeName: "n1", Volumes: vols, Containers: []corev1.Container{{
			Name: "c",
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
			},
		}}},
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEmptyDir(t *testing.T) {
	m, _ := newManager(t)
	pod := testPod(corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	got, err := m.Mount(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(m.RootDir, "uid-1", "volumes", "kubernetes.io~empty-dir", "scratch")
	if got["scratch"].HostPath != want || got["scratch"].ReadOnly {
		t.Fatalf("got %+v, want %s", got, want)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("emptyDir: %v %v", fi, err)
	}
	if err := m.Unmount(context.Background(), "uid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.RootDir, "uid-1")); !os.IsNotExist(err) {
		t.Fatalf("pod dir not removed: %v", err)
	}
}

func TestEmptyDirMemory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root")
	}
	m, _ := newManager(t)
	pod := testPod(corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("1Mi"))}}})
	for range 2 { // idempotent: the second Mount must not stack another tmpfs
		if _, err := m.Mount(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(m.RootDir, "uid-1", "volumes", "kubernetes.io~empty-dir", "mem")
	if n := countMounts(t, dir); n != 1 {
		t.Fatalf("%d tmpfs mounts on %s, want 1", n, dir)
	}
	// sizeLimit is the tmpfs size.
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 2<<20), 0o644); err == nil {
		t.Fatal("wrote 2Mi into a 1Mi tmpfs")
	}
	if err := m.Unmount(context.Background(), "uid-1"); err != nil {
		t.Fatal(err)
	}
	if n := countMounts(t, dir); n != 0 {
		t.Fatalf("tmpfs still mounted after Unmount")
	}
}

func countMounts(t *testing.T, dir string) int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			n++
		}
	}
	return n
}

func TestConfigMapItemsModesAndUpdate(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"},
		Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"bin": {0, 1}}}
	m, cs := newManager(t, cm)
	pod := testPod(
		corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o600))}}},
		corev1.Volume{Name: "some", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items:                []corev1.KeyToPath{{Key: "a", Path: "sub/dir/a.txt", Mode: ptr(int32(0o400))}}}}},
	)
	ctx := context.Background()
	got, err := m.Mount(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	all, some := got["all"].HostPath, got["some"].HostPath
	if !got["all"].ReadOnly || read(t, filepath.Join(all, "a")) != "1" || read(t, filepath.Join(all, "bin")) != "\x00\x01" {
		t.Fatalf("all: %+v", got["all"])
	}
	if fi, _ := os.Stat(filepath.Join(all, "b")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("defaultMode: %v", fi.Mode())
	}
	if fi, _ := os.Stat(filepath.Join(some, "sub/dir/a.txt")); fi.Mode().Perm() != 0o400 {
		t.Fatalf("item mode: %v", fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(some, "b")); !os.IsNotExist(err) {
		t.Fatal("items must project only the listed keys")
	}
	// The upstream layout: visible names link through ..data to a timestamped dir.
	if l, _ := os.Readlink(filepath.Join(all, "a")); l != "..data/a" {
		t.Fatalf("a links to %q", l)
	}
	oldTS, _ := os.Readlink(filepath.Join(all, "..data"))
	if !strings.HasPrefix(oldTS, "..") {
		t.Fatalf("..data -> %q", oldTS)
	}
	// Unchanged data: Refresh rewrites nothing.
	if err := m.Refresh(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if ts, _ := os.Readlink(filepath.Join(all, "..data")); ts != oldTS {
		t.Fatal("Refresh rewrote an unchanged payload")
	}
	// An update (a changed, b removed, c added) reaches the volume.
	cm.Data = map[string]string{"a": "10", "c": "3"}
	if _, err := cs.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The update reaches the kubelet through the ConfigMap's watch.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := m.Refresh(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if read(t, filepath.Join(all, "a")) == "10" && read(t, filepath.Join(all, "c")) == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("update did not reach the volume")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Lstat(filepath.Join(all, "b")); !os.IsNotExist(err) {
		t.Fatal("removed key still visible")
	}
	if _, err := os.Stat(filepath.Join(all, oldTS)); !os.IsNotExist(err) {
		t.Fatal("old timestamped directory left behind")
	}
}

func TestMissingConfigMapAndSecret(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	pod := testPod(corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}})
	_, err := m.Mount(ctx, pod)
	var me *MountError
	if !errors.As(err, &me) || !apierrors.IsNotFound(err) ||
		err.Error() != `MountVolume.SetUp failed for volume "config" : configmap "x" not found` {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(m.RootDir, "uid-1", "volumes", "kubernetes.io~configmap", "config")); !os.IsNotExist(err) {
		t.Fatal("failed mount left a directory")
	}
	pod = testPod(corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "y"}}})
	if _, err := m.Mount(ctx, pod); err == nil || !strings.HasSuffix(err.Error(), `secret "y" not found`) {
		t.Fatalf("got %v", err)
	}
	pod = testPod(corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "y", Optional: ptr(true)}}})
	if _, err := m.Mount(ctx, pod); err != nil {
		t.Fatalf("optional secret: %v", err)
	}
}

func TestSecretMissingKey(t *testing.T) {
	m, _ := newManager(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Data: map[string][]byte{"k": []byte("v")}})
	pod := testPod(corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "s", Items: []corev1.KeyToPath{{Key: "nope", Path: "p"}}}}})
	if _, err := m.Mount(context.Background(), pod); err == nil || !strings.Contains(err.Error(), "references non-existent secret key: nope") {
		t.Fatalf("got %v", err)
	}
	pod.Spec.Volumes[0].Secret.Items = []corev1.KeyToPath{{Key: "k", Path: "p"}}
	got, err := m.Mount(context.Background(), pod)
	if err != nil || read(t, filepath.Join(got["s"].HostPath, "p")) != "v" {
		t.Fatalf("secret: %v", err)
	}
}

func TestDownwardAPI(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}
	m, _ := newManager(t, node)
	pod := testPod(corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
		{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
		{Path: "uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "app", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
		{Path: "mem_limit_mi", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		{Path: "cpu_limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.cpu"}},
		{Path: "cpu_request_m", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "requests.cpu", Divisor: resource.MustParse("1m")}},
	}}}})
	got, err := m.Mount(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := got["info"].HostPath
	for file, want := range map[string]string{
		"name": "web", "uid": "uid-1", "labels": "app=\"web\"\ntier=\"a\\\"b\"", "app": "web",
		"mem_limit_mi": "64", "cpu_limit": "2", "cpu_request_m": "250",
	} {
		if g := read(t, filepath.Join(dir, file)); g != want {
			t.Errorf("%s = %q, want %q", file, g, want)
		}
	}
	// A label change reaches the volume on Refresh.
	pod.Labels["app"] = "web2"
	if err := m.Refresh(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if g := read(t, filepath.Join(dir, "app")); g != "web2" {
		t.Fatalf("after refresh app = %q", g)
	}
}

func TestProjectedServiceAccountToken(t *testing.T) {
	m, cs := newManager(t,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "ns"}, Data: map[string]string{"ca.crt": "CA"}})
	var issued atomic.Int32
	cs.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		ref := tr.Spec.BoundObjectRef
		if ref == nil || ref.Kind != "Pod" || ref.Name != "web" || ref.UID != "uid-1" || *tr.Spec.ExpirationSeconds != 3607 {
			return true, nil, fmt.Errorf("bad token request %+v", tr.Spec)
		}
		n := issued.Add(1)
		tr = tr.DeepCopy()
		tr.Status = authenticationv1.TokenRequestStatus{Token: fmt.Sprintf("token-%d", n),
			ExpirationTimestamp: metav1.NewTime(now().Add(3607 * time.Second))}
		return true, tr, nil
	})
	// The volume ServiceAccount admission adds to every pod.
	pod := testPod(corev1.Volume{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o644)),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr(int64(3607)), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}}}})
	ctx := context.Background()
	got, err := m.Mount(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := got["kube-api-access-abcde"].HostPath
	if read(t, filepath.Join(dir, "token")) != "token-1" || read(t, filepath.Join(dir, "ca.crt")) != "CA" || read(t, filepath.Join(dir, "namespace")) != "ns" {
		t.Fatal("projected payload wrong")
	}
	if os.Geteuid() == 0 && countMounts(t, dir) != 1 {
		t.Fatal("projected volume is not on tmpfs")
	}
	// A fresh token is reused ...
	if err := m.Refresh(ctx, pod); err != nil || read(t, filepath.Join(dir, "token")) != "token-1" {
		t.Fatalf("refresh of a fresh token: %v", err)
	}
	// ... and renewed past 80% of its lifetime.
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Now().Add(50 * time.Minute) }
	if err := m.Refresh(ctx, pod); err != nil || read(t, filepath.Join(dir, "token")) != "token-2" {
		t.Fatalf("refresh of an aged token: %v", err)
	}
}

func TestHostPathTypes(t *testing.T) {
	m, _ := newManager(t)
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(base, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		path    string
		typ     corev1.HostPathType
		wantErr string
	}{
		{filepath.Join(base, "new/dir"), corev1.HostPathDirectoryOrCreate, ""},
		{filepath.Join(base, "newfile"), corev1.HostPathFileOrCreate, ""},
		{base, corev1.HostPathDirectory, ""},
		{file, corev1.HostPathFile, ""},
		{sock, corev1.HostPathSocket, ""},
		{filepath.Join(base, "missing"), corev1.HostPathDirectory, "is not a directory"},
		{file, corev1.HostPathDirectoryOrCreate, "is not a directory"},
		{base, corev1.HostPathFile, "is not a file"},
		{file, corev1.HostPathSocket, "is not a socket file"},
		{"/dev/null", corev1.HostPathCharDev, ""},
		{file, corev1.HostPathBlockDev, "is not a block device"},
		{filepath.Join(base, "anything"), corev1.HostPathUnset, ""},
	} {
		pod := testPod(corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: tc.path, Type: ptr(tc.typ)}}})
		got, err := m.Mount(context.Background(), pod)
		if tc.wantErr == "" {
			if err != nil || got["h"].HostPath != tc.path {
				t.Errorf("%s %s: %v", tc.typ, tc.path, err)
			}
			continue
		}
		want := fmt.Sprintf(`MountVolume.SetUp failed for volume "h" : hostPath type check failed: %s %s`, tc.path, tc.wantErr)
		if err == nil || err.Error() != want {
			t.Errorf("%s %s: got %v, want %s", tc.typ, tc.path, err, want)
		}
	}
	for _, d := range []string{"new/dir", "anything"} {
		if fi, err := os.Stat(filepath.Join(base, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s was not created as a directory", d)
		}
	}
	// Unmount never touches host paths.
	if err := m.Unmount(context.Background(), "uid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal("Unmount removed a host path")
	}
}

func TestPVC(t *testing.T) {
	hp := t.TempDir()
	m, _ := newManager(t,
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hp + "/pvc-x", Type: ptr(corev1.HostPathDirectoryOrCreate)}}}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "ns"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
	)
	pod := testPod(corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data", ReadOnly: true}}})
	got, err := m.Mount(context.Background(), pod)
	if err != nil || got["d"].HostPath != hp+"/pvc-x" || !got["d"].ReadOnly {
		t.Fatalf("got %+v %v", got, err)
	}
	// A generic ephemeral volume uses the claim <pod>-<volume>, which must be the pod's.
	ctx := context.Background()
	eph := testPod(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}})
	pvc, _ := m.Client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data", metav1.GetOptions{})
	pvc.Name, pvc.ResourceVersion = "web-data", ""
	if pvc, err = m.Client.CoreV1().PersistentVolumeClaims("ns").Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Mount(ctx, eph); err == nil || !strings.HasSuffix(err.Error(), "PVC was not created for pod ns/web (pod is not owner)") {
		t.Fatalf("ephemeral claim the pod does not own: %v", err)
	}
	pvc.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web", UID: eph.UID, Controller: ptr(true)}}
	if _, err := m.Client.CoreV1().PersistentVolumeClaims("ns").Update(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Mount(ctx, eph); err != nil || got["data"].HostPath != hp+"/pvc-x" || got["data"].ReadOnly {
		t.Fatalf("ephemeral: %+v %v", got, err)
	}
	pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = "pending"
	if _, err := m.Mount(context.Background(), pod); err == nil || !strings.HasSuffix(err.Error(), "error processing PVC ns/pending: PVC is not bound") {
		t.Fatalf("got %v", err)
	}
}

func TestSubPath(t *testing.T) {
	vol := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(vol, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(vol, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("in", filepath.Join(vol, "inlink")); err != nil {
		t.Fatal(err)
	}
	p, err := SubPath(vol, "a/b")
	if err != nil || p != filepath.Join(vol, "a/b") {
		t.Fatalf("got %q %v", p, err)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		t.Fatal("missing subPath not created")
	}
	if p, err := SubPath(vol, "inlink"); err != nil || p != filepath.Join(vol, "in") {
		t.Fatalf("symlink inside the volume: %q %v", p, err)
	}
	for _, bad := range []string{"../x", "a/../../x", "/etc", "escape", "escape/new"} {
		if p, err := SubPath(vol, bad); err == nil {
			t.Errorf("SubPath(%q) = %q, want an error", bad, p)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !os.IsNotExist(err) {
		t.Error("SubPath created a directory outside the volume")
	}
}

func TestCleanupRemovesOrphans(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	for _, uid := range []types.UID{"live", "gone"} {
		pod := testPod(corev1.Volume{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		pod.UID = uid
		if _, err := m.Mount(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Cleanup(ctx, map[types.UID]bool{"live": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.PodDir("live")); err != nil {
		t.Fatal("live pod removed")
	}
	if _, err := os.Stat(m.PodDir("gone")); !os.IsNotExist(err) {
		t.Fatal("orphan kept")
	}
}

func TestFSGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's group to an arbitrary fsGroup needs root")
	}
	m, _ := newManager(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Data: map[string][]byte{"k": []byte("v")}})
	pod := testPod(
		corev1.Volume{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr(int32(0o400))}}},
	)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(4242))}
	got, err := m.Mount(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(got["e"].HostPath, &st); err != nil || st.Gid != 4242 || st.Mode&syscall.S_ISGID == 0 {
		t.Fatalf("emptyDir: gid %d mode %o %v", st.Gid, st.Mode, err)
	}
	if err := syscall.Stat(filepath.Join(got["s"].HostPath, "k"), &st); err != nil || st.Gid != 4242 || st.Mode&0o777 != 0o440 {
		t.Fatalf("secret file: gid %d mode %o %v", st.Gid, st.Mode, err)
	}
	// Unchanged data is not rewritten just because the modes were widened.
	ts, _ := os.Readlink(filepath.Join(got["s"].HostPath, "..data"))
	if err := m.Refresh(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(got["s"].HostPath, "..data")); again != ts {
		t.Fatal("refresh rewrote an unchanged payload")
	}
}
