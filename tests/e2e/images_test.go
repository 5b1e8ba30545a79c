package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/kubelet/images"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/registries/registrytest"
	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// TestPrivateRegistry pulls pods' images from a real registry configured in
// registries.yaml: through a mirror entry with a rewrite, with the file's
// credentials and CA, a wrong password (ErrImagePull with the registry's
// answer), and a pod's imagePullSecret taking precedence over the file.
func TestPrivateRegistry(t *testing.T) {
	ctdRequire(t)
	netRequireRoot(t)
	reg := registrytest.Start(t)
	img, err := tarball.ImageFromPath(filepath.Join(ctdImages(t), "agnhost-lite.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, img, "skiff/agnhost", "reg")
	regFile := filepath.Join(t.TempDir(), "registries.yaml")
	yaml := fmt.Sprintf(`mirrors:
  mirror.skiff.invalid:
    endpoint:
      - "https://127.0.0.1:%[1]s"
    rewrite:
      "^mirrored/(.*)$": "skiff/$1"
configs:
  "127.0.0.1:%[1]s":
    auth:
      username: %[2]s
      password: %[3]s
    tls:
      ca_file: %[4]s
  "localhost:%[1]s":
    auth:
      username: %[2]s
      password: wrong
    tls:
      ca_file: %[4]s
`, reg.Port, reg.User, reg.Pass, reg.CAFile)
	if err := os.WriteFile(regFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	n := kubeletStart(t, "--private-registry", regFile)
	ctx := context.Background()
	pods := n.s.Client.CoreV1().Pods("default")
	run := func(name, image string, secrets ...string) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To(int64(1)),
				Containers:                    []corev1.Container{{Name: "c", Image: image, Args: []string{"sleep", "infinity"}}},
			},
		}
		for _, s := range secrets {
			p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
		}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Through the mirror: mirror.skiff.invalid does not resolve, so only
	// the mirror endpoint (with the rewrite) can serve it.
	run("via-mirror", "mirror.skiff.invalid/mirrored/agnhost:reg")
	// Straight from the registry with the file's credentials and CA.
	run("file-creds", "127.0.0.1:"+reg.Port+"/skiff/agnhost:reg")
	for _, name := range []string{"via-mirror", "file-creds"} {
		p := n.waitPod(t, name, "running", podRunning)
		if cs := p.Status.ContainerStatuses[0]; !strings.HasPrefix(cs.ImageID, "sha256:") && !strings.Contains(cs.ImageID, "@sha256:") {
			t.Errorf("%s: imageID %q", name, cs.ImageID)
		}
	}

	// The same registry as localhost:<port>, where the file has a wrong password.
	local := "localhost:" + reg.Port + "/skiff/agnhost:reg"
	run("wrong-password", local)
	p := n.waitPod(t, "wrong-password", "ErrImagePull", func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") && strings.Contains(w.Message, "401 Unauthorized")
	})
	t.Logf("wrong password: %s", p.Status.ContainerStatuses[0].State.Waiting.Message)
	if err := pods.Delete(ctx, "wrong-password", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}

	// A pull secret for localhost:<port> takes precedence over the file's password.
	auths, _ := json.Marshal(map[string]any{"auths": map[string]any{"localhost:" + reg.Port: map[string]string{"username": reg.User, "password": reg.Pass}}})
	if _, err := n.s.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: auths},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run("pull-secret", local, "regcred")
	n.waitPod(t, "pull-secret", "running", podRunning)
}

// A registries.yaml the agent cannot use stops `skiff server` at start with
// the field at fault, as k3s does.
func TestPrivateRegistryInvalid(t *testing.T) {
	bin := framework.Binary(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "registries.yaml")
	if err := os.WriteFile(bad, []byte("mirrors:\n  docker.io:\n    endpoint: ['ftp://mirror.example.com']\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "server", "--data-dir", filepath.Join(dir, "data"),
		"--https-listen-port", strconv.Itoa(framework.FreePort(t)), "--write-kubeconfig", filepath.Join(dir, "kc.yaml"),
		"--private-registry", bad).CombinedOutput()
	want := bad + `: mirrors["docker.io"].endpoint[0]: invalid URL "ftp://mirror.example.com": scheme must be http or https`
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), want) {
		t.Errorf("server with a bad registries.yaml: %v\n%s\nwant %q", err, out, want)
	}
}

// TestImageCommand drives `skiff image import|ls|rm` against a containerd of its own.
func TestImageCommand(t *testing.T) {
	bin := framework.Binary(t)
	p, _ := ctdStart(t, nil)
	images := ctdImages(t)
	skiff := func(stdin io.Reader, args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"image", "--container-runtime-endpoint", p.Address()}, args...)...)
		cmd.Stdin = stdin
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := skiff(nil, args...)
		if err != nil {
			t.Fatalf("skiff image %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if out := must("ls"); out != "IMAGE               TAG                 IMAGE ID            SIZE\n" {
		t.Errorf("empty ls:\n%s", out)
	}
	out := must("import", "--pinned", filepath.Join(images, "agnhost-lite.tar"))
	if out != "Loaded image: "+ctdAgnhostRef+"\n" {
		t.Errorf("import: %q", out)
	}
	rec, err := ctdClient(t, p).ImageService().Get(namespaces.WithNamespace(context.Background(), "k8s.io"), ctdAgnhostRef)
	if err != nil || rec.Labels[runtime.PinnedImageLabel] != "pinned" {
		t.Errorf("--pinned: %v %v", rec.Labels, err)
	}
	// From stdin too.
	f, err := os.Open(filepath.Join(images, "busybox.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if out, err := skiff(f, "import", "-"); err != nil || out != "Loaded image: "+ctdBusyboxRef+"\n" {
		t.Errorf("import from stdin: %v %q", err, out)
	}
	out = must("ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "IMAGE ") || !strings.Contains(lines[0], "IMAGE ID") {
		t.Fatalf("ls:\n%s", out)
	}
	var agnhostID string
	for _, l := range lines[1:] {
		fields := strings.Fields(l)
		if len(fields) != 4 || len(fields[2]) != 13 || !strings.HasSuffix(fields[3], "B") {
			t.Errorf("ls row %q", l)
			continue
		}
		if fields[0]+":"+fields[1] == ctdAgnhostRef {
			agnhostID = fields[2]
		}
	}
	ids := strings.Fields(must("ls", "-q"))
	if len(ids) != 2 || !strings.HasPrefix(ids[0], "sha256:") {
		t.Errorf("ls -q: %q", ids)
	}
	if out := must("ls", "skiff.test/busybox"); !strings.Contains(out, "skiff.test/busybox ") || strings.Contains(out, "agnhost") {
		t.Errorf("ls filtered:\n%s", out)
	}

	// rm by the truncated ID ls printed, and by name; a missing one is an error.
	if out := must("rm", agnhostID); out != "Deleted: "+ctdAgnhostRef+"\n" && !strings.HasPrefix(out, "Deleted: "+ctdAgnhostRef+"\nDeleted: skiff.test/agnhost-lite@sha256:") {
		t.Errorf("rm by ID: %q", out)
	}
	if out, err := skiff(nil, "rm", "skiff.test/nothere:1", ctdBusyboxRef); err == nil || !strings.Contains(out, `no such image "skiff.test/nothere:1" present`) || !strings.Contains(out, "Deleted: "+ctdBusyboxRef) {
		t.Errorf("rm of a missing and a present image: %v\n%s", err, out)
	}
	if out := must("ls", "-q"); out != "" {
		t.Errorf("images left: %q", out)
	}
	// No containerd there: a clear error.
	if out, err := exec.Command(bin, "image", "--run-dir", t.TempDir(), "ls").CombinedOutput(); err == nil || !strings.Contains(string(out), "no containerd socket at ") {
		t.Errorf("without containerd: %v %s", err, out)
	}
}

// TestImageGC collects real images on a filesystem whose usage is computed
// from them: the unused image goes once old enough, the one a container
// uses stays.
func TestImageGC(t *testing.T) {
	env := rtStart(t, nil)
	ctx := context.Background()
	sb := env.sandbox(t, "gc", "")
	env.run(t, sb, runtime.ContainerConfig{Name: "app", Image: ctdBusyboxRef, Command: []string{"sleep", "infinity"}})
	agnhost, err := env.rt.GetImage(ctx, ctdAgnhostRef)
	if err != nil {
		t.Fatal(err)
	}
	busybox, err := env.rt.GetImage(ctx, ctdBusyboxRef)
	if err != nil {
		t.Fatal(err)
	}
	// A filesystem 10× agnhost's size, 85% used with both images: removing
	// agnhost brings it to 75%, under the low threshold.
	capacity := uint64(10 * agnhost.Size)
	base := capacity*85/100 - uint64(agnhost.Size+busybox.Size)
	usage := func() (images.FsStats, error) {
		imgs, err := env.rt.ListImages(ctx)
		if err != nil {
			return images.FsStats{}, err
		}
		used := base
		for _, i := range imgs {
			used += uint64(i.Size)
		}
		return images.FsStats{Capacity: capacity, Available: capacity - used}, nil
	}
	inUse := func(ctx context.Context) (map[string]bool, error) {
		cs, err := env.rt.ListContainers(ctx, runtime.ContainerFilter{})
		if err != nil {
			return nil, err
		}
		m := map[string]bool{}
		for _, c := range cs {
			m[c.ImageRef] = true
		}
		return m, nil
	}
	gc, err := images.NewGC(images.DefaultPolicy, env.rt, usage, inUse)
	if err != nil {
		t.Fatal(err)
	}
	// Just seen: younger than the minimum age, nothing may go.
	freed, err := gc.GarbageCollect(ctx)
	var fse *images.FreeSpaceError
	if !errors.As(err, &fse) || freed != 0 {
		t.Fatalf("young images: freed %d, %v", freed, err)
	}
	gc, err = images.NewGC(images.Policy{HighThresholdPercent: 85, LowThresholdPercent: 80}, env.rt, usage, inUse)
	if err != nil {
		t.Fatal(err)
	}
	freed, err = gc.GarbageCollect(ctx)
	if err != nil || freed != agnhost.Size {
		t.Fatalf("freed %d (want %d): %v", freed, agnhost.Size, err)
	}
	if _, err := env.rt.GetImage(ctx, ctdAgnhostRef); !errdefs.IsNotFound(err) {
		t.Errorf("unused image still there: %v", err)
	}
	if _, err := env.rt.GetImage(ctx, ctdBusyboxRef); err != nil {
		t.Errorf("image in use removed: %v", err)
	}
	// Under the threshold now: nothing more goes.
	if freed, err := gc.GarbageCollect(ctx); freed != 0 || err != nil {
		t.Errorf("second collection: %d %v", freed, err)
	}
}

// TestEvictionUnderMemoryPressure runs a node whose memory threshold is
// always met: it reports MemoryPressure, rejects a BestEffort pod at
// admission (Failed, Evicted, "Pod was rejected: ..."), and evicts running
// pods (Failed, Evicted, DisruptionTarget).
func TestEvictionUnderMemoryPressure(t *testing.T) {
	n := kubeletStart(t, "--eviction-hard", "memory.available<1000Ti")
	ctx := context.Background()
	n.waitNodeCondition(t, corev1.NodeMemoryPressure, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
	pods := n.s.Client.CoreV1().Pods("default")
	mk := func(name string, request string) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				// Bound directly: the scheduler keeps pods off the node's
				// memory-pressure taint; the kubelet's admission is under test.
				NodeName:                      n.name,
				TerminationGracePeriodSeconds: ptr.To(int64(30)),
				Containers: []corev1.Container{{Name: "c", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever,
					Args: []string{"sleep", "infinity"}}},
			},
		}
		if request != "" {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(request)}
		}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	evicted := func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "Evicted" }

	// Rejected at admission as upstream's kubelet rejects: the status
	// message says so, the event gives the condition, and a pod that never
	// ran is not marked disrupted.
	mk("besteffort", "")
	p := n.waitPod(t, "besteffort", "rejected", evicted)
	if p.Status.Message != "Pod was rejected: The node had condition: [MemoryPressure]. " {
		t.Errorf("rejection message %q", p.Status.Message)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget {
			t.Errorf("a pod rejected at admission has %+v", c)
		}
	}
	n.waitEvent(t, "besteffort", corev1.EventTypeWarning, "Evicted", "The node had condition: [MemoryPressure]. ")

	mk("burstable", "1Mi")
	p = n.waitPod(t, "burstable", "evicted", evicted)
	if !strings.HasPrefix(p.Status.Message, "The node was low on resource: memory. Threshold quantity: 1000Ti, available: ") {
		t.Errorf("eviction message %q", p.Status.Message)
	}
	var dt *corev1.PodCondition
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget {
			dt = c.DeepCopy()
		}
	}
	if dt == nil || dt.Status != corev1.ConditionTrue || dt.Reason != "TerminationByKubelet" {
		t.Errorf("DisruptionTarget %+v", dt)
	}
	// Killed with the eviction grace period, not the pod's 30s.
	p = n.waitPod(t, "burstable", "containers stopped", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Terminated != nil
	})
	if events := n.s.Kubectl(t, "get", "events", "--field-selector", "involvedObject.name=burstable,reason=Evicted"); !strings.Contains(events, "The node was low on resource: memory") {
		t.Errorf("no Evicted event:\n%s", events)
	}
}

// TestEvictionUnderDiskPressure runs a node whose nodefs threshold is
// always met: DiskPressure, every new pod rejected, and the image reclaim
// that runs under it leaves the imported image (pinned, and young; the
// unit tests cover each on its own).
func TestEvictionUnderDiskPressure(t *testing.T) {
	n := kubeletStart(t, "--eviction-hard", "nodefs.available<100%")
	ctx := context.Background()
	n.waitNodeCondition(t, corev1.NodeDiskPressure, "KubeletHasDiskPressure", "kubelet has disk pressure")
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "burstable"},
		Spec: corev1.PodSpec{
			NodeName: n.name,
			Containers: []corev1.Container{{Name: "c", Image: ctdAgnhostRef, ImagePullPolicy: corev1.PullNever, Args: []string{"sleep", "infinity"},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Mi")}}}},
		},
	}
	if _, err := n.s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := n.waitPod(t, "burstable", "rejected", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if got.Status.Reason != "Evicted" || got.Status.Message != "Pod was rejected: The node had condition: [DiskPressure]. " {
		t.Errorf("rejection: %q %q", got.Status.Reason, got.Status.Message)
	}
	// Reclaim ran (every 10s under pressure); the imported image stays.
	time.Sleep(11 * time.Second)
	nd, err := n.s.Client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, img := range nd.Status.Images {
		for _, name := range img.Names {
			found = found || name == ctdAgnhostRef
		}
	}
	if !found {
		t.Errorf("pinned image gone from node.status.images: %+v", nd.Status.Images)
	}
}

// waitNodeCondition waits for the node condition to be True with reason and message.
func (n *kubeletNode) waitNodeCondition(t *testing.T, typ corev1.NodeConditionType, reason, message string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		nd, err := n.s.Client.CoreV1().Nodes().Get(context.Background(), n.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == typ && c.Status == corev1.ConditionTrue {
				if c.Reason != reason || c.Message != message {
					t.Errorf("%s: %+v", typ, c)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s: %+v", typ, nd.Status.Conditions)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
