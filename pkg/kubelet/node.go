package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/nodestatus"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// Upstream's defaults.
const (
	maxPods = 110
	// nodeStatusReportFrequency: the status is posted at least this often
	// even when nothing changed.
	nodeStatusReportFrequency = 5 * time.Minute
	// nodeStatusUpdateFrequency: how often the status is computed and
	// posted if it changed.
	nodeStatusUpdateFrequency = 10 * time.Second
	kubeletPort               = 10250
	// nodeStatusMaxImages and maxNamesPerImageInNodeStatus bound
	// node.status.images (upstream's defaults).
	nodeStatusMaxImages          = 50
	maxNamesPerImageInNodeStatus = 5
	// memoryReserve is kept back from allocatable for the system and skiff
	// itself (kube-reserved + system-reserved in upstream's terms).
	memoryReserve = 256 << 20
)

const labelControlPlane = "node-role.kubernetes.io/control-plane"

// registerNode creates the Node, or updates the one from an earlier run.
func (k *Kubelet) registerNode(ctx context.Context) (*corev1.Node, error) {
	var node *corev1.Node
	// The apiserver of the same process may not serve yet: retry soon, then
	// back off to 2 s.
	retry := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Cap: 2 * time.Second, Steps: math.MaxInt32}
	err := wait.ExponentialBackoffWithContext(ctx, retry, func(ctx context.Context) (bool, error) {
		want, err := k.nodeObject(ctx)
		if err != nil {
			return false, err
		}
		nodes := k.client.CoreV1().Nodes()
		got, err := nodes.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			got, err = nodes.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
			if err == nil {
				if got.Labels == nil {
					got.Labels = map[string]string{}
				}
				for key, v := range want.Labels {
					got.Labels[key] = v
				}
				got, err = nodes.Update(ctx, got, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			klog.FromContext(ctx).V(2).Info("Registering node, will retry", "err", err)
			return false, nil
		}
		node = got
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// A failure here (a conflict with node IPAM setting the podCIDR) is
	// retried by the status loop.
	if err := k.updateNodeStatus(ctx, true); err != nil {
		klog.FromContext(ctx).V(2).Info("Node status update failed, will retry", "err", err)
		k.kickNodeStatus()
	}
	return node, nil
}

// nodeObject is the Node as registered: labels, and a status from the machine.
func (k *Kubelet) nodeObject(ctx context.Context) (*corev1.Node, error) {
	labels := map[string]string{
		corev1.LabelHostname:      k.cfg.NodeName,
		corev1.LabelOSStable:      goruntime.GOOS,
		corev1.LabelArchStable:    goruntime.GOARCH,
		"beta.kubernetes.io/os":   goruntime.GOOS,
		"beta.kubernetes.io/arch": goruntime.GOARCH,
	}
	if k.cfg.ControlPlane {
		labels[labelControlPlane] = "true"
	}
	for key, v := range k.cfg.Labels {
		labels[key] = v
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Labels: labels}}
	k.fillStatus(ctx, n, nil)
	return n, nil
}

// machineMemory is the machine's memory and the part of it pods may use
// (the node's allocatable memory): all but memoryReserve.
func machineMemory() (total, forPods int64, ok bool) {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0, 0, false
	}
	total = int64(si.Totalram) * int64(si.Unit)
	return total, max(total-memoryReserve, 0), true
}

// resourcesOfNode is the node's capacity and allocatable: its CPUs, its
// memory less what is kept for the system and skiff, its data dir's
// filesystem less upstream's eviction threshold, and maxPods pods.
func (k *Kubelet) resourcesOfNode() (capacity, allocatable corev1.ResourceList) {
	capacity = corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourcePods: *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	allocatable = corev1.ResourceList{
		corev1.ResourceCPU:  capacity[corev1.ResourceCPU],
		corev1.ResourcePods: capacity[corev1.ResourcePods],
	}
	if total, forPods, ok := machineMemory(); ok {
		capacity[corev1.ResourceMemory] = *resource.NewQuantity(total, resource.BinarySI)
		allocatable[corev1.ResourceMemory] = *resource.NewQuantity(forPods, resource.BinarySI)
	}
	if k.cfg.DataDir != "" {
		var fs unix.Statfs_t
		if unix.Statfs(k.cfg.DataDir, &fs) == nil {
			size := int64(fs.Blocks) * fs.Bsize
			capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(size, resource.BinarySI)
			// upstream's default eviction threshold nodefs.available<10%.
			allocatable[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(size-size/10, resource.BinarySI)
		}
	}
	return capacity, allocatable
}

// fillStatus computes the node's status, keeping the transition times of
// conditions that did not change from old.
func (k *Kubelet) fillStatus(ctx context.Context, n *corev1.Node, old *corev1.Node) {
	s := &n.Status
	s.Capacity, s.Allocatable = k.resourcesOfNode()
	hostname, _ := os.Hostname()
	s.Addresses = nil
	if k.cfg.NodeIP != nil {
		s.Addresses = append(s.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: k.cfg.NodeIP.String()})
	}
	s.Addresses = append(s.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: hostname})
	s.DaemonEndpoints.KubeletEndpoint.Port = int32(k.cfg.Port)
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	s.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               strings.TrimSpace(readFile("/etc/machine-id")),
		SystemUUID:              strings.TrimSpace(readFile("/sys/class/dmi/id/product_uuid")),
		BootID:                  strings.TrimSpace(readFile("/proc/sys/kernel/random/boot_id")),
		KernelVersion:           unix.ByteSliceToString(uts.Release[:]),
		OSImage:                 osImage(),
		ContainerRuntimeVersion: "containerd://" + k.cfg.RuntimeVersion,
		KubeletVersion:          k.cfg.KubeletVersion,
		KubeProxyVersion:        k.cfg.KubeletVersion,
		OperatingSystem:         goruntime.GOOS,
		Architecture:            goruntime.GOARCH,
	}
	if k.rt != nil {
		if imgs, err := k.rt.ListImages(ctx); err == nil {
			s.Images = nodeImages(imgs)
		}
	}
	ready := nodestatus.Ready
	if k.net == nil {
		ready = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
			Message: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"}
	}
	var oldConds []corev1.NodeCondition
	if old != nil {
		oldConds = old.Status.Conditions
	}
	var pressure nodestatus.Pressure
	if k.eviction != nil {
		pressure.Memory, pressure.Disk = k.eviction.Pressure()
	}
	s.Conditions = nodestatus.ConditionsUnder(pressure, ready, oldConds, metav1.Now())
}

// nodeImages is node.status.images as upstream reports it: the largest
// nodeStatusMaxImages images, each with up to maxNamesPerImageInNodeStatus
// names (digests first).
func nodeImages(imgs []*runtime.Image) []corev1.ContainerImage {
	imgs = slices.Clone(imgs)
	sort.SliceStable(imgs, func(i, j int) bool { return imgs[i].Size > imgs[j].Size })
	var out []corev1.ContainerImage
	for _, i := range imgs {
		if len(out) == nodeStatusMaxImages {
			break
		}
		names := append(append([]string(nil), i.RepoDigests...), i.RepoTags...)
		if len(names) == 0 {
			continue
		}
		if len(names) > maxNamesPerImageInNodeStatus {
			names = names[:maxNamesPerImageInNodeStatus]
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: i.Size})
	}
	return out
}

// updateNodeStatus posts the status if it changed, or if force, or when the
// last post is older than nodeStatusReportFrequency.
func (k *Kubelet) updateNodeStatus(ctx context.Context, force bool) error {
	nodes := k.client.CoreV1().Nodes()
	// Others write the node too (node IPAM, the node lifecycle controller).
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		old, err := nodes.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n := old.DeepCopy()
		k.fillStatus(ctx, n, old)
		if !force && !nodeStatusChanged(old, n) {
			return nil
		}
		_, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// nodeStatusChanged says whether the status differs from old other than by
// heartbeat times, or old's heartbeat is older than the report frequency.
func nodeStatusChanged(old, n *corev1.Node) bool {
	for _, c := range old.Status.Conditions {
		if time.Since(c.LastHeartbeatTime.Time) >= nodeStatusReportFrequency {
			return true
		}
	}
	a, b := old.Status.DeepCopy(), n.Status.DeepCopy()
	for _, s := range []*corev1.NodeStatus{a, b} {
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
	}
	return !apiequality.Semantic.DeepEqual(a, b)
}

func (k *Kubelet) kickNodeStatus() {
	select {
	case k.nodeStatusKick <- struct{}{}:
	default:
	}
}

func (k *Kubelet) nodeStatusLoop(ctx context.Context) {
	t := time.NewTicker(nodeStatusUpdateFrequency)
	defer t.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.nodeStatusKick:
			force = true
		}
		if err := k.updateNodeStatus(ctx, force); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).V(2).Info("Node status update failed", "err", err)
		}
	}
}

// waitPodCIDR waits for node IPAM to give the node its podCIDR.
func (k *Kubelet) waitPodCIDR(ctx context.Context) (*net.IPNet, error) {
	var cidr *net.IPNet
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err != nil || n.Spec.PodCIDR == "" {
			return false, nil
		}
		_, c, err := net.ParseCIDR(n.Spec.PodCIDR)
		if err != nil {
			return false, fmt.Errorf("kubelet: node podCIDR %q: %w", n.Spec.PodCIDR, err)
		}
		cidr = c
		return true, nil
	})
	return cidr, err
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// osImage is PRETTY_NAME from /etc/os-release, as upstream's cadvisor reports.
func osImage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return goruntime.GOOS
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return goruntime.GOOS
}
