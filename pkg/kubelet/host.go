package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	kserver "github.com/skiff-k8s/skiff/pkg/kubelet/server"
	"github.com/skiff-k8s/skiff/pkg/network"
)

// The kubelet is the kubelet API server's Host.
var _ kserver.Host = (*Kubelet)(nil)

// GetPodByName returns a pod bound to this node, by namespace and name.
func (k *Kubelet) GetPodByName(namespace, name string) (*corev1.Pod, bool) {
	if k.podStore == nil {
		return nil, false
	}
	obj, ok, _ := k.podStore.GetByKey(namespace + "/" + name)
	if !ok {
		return nil, false
	}
	return obj.(*corev1.Pod), true
}

// GetPods returns the pods bound to this node.
func (k *Kubelet) GetPods() []*corev1.Pod {
	if k.podStore == nil {
		return nil
	}
	var out []*corev1.Pod
	for _, obj := range k.podStore.List() {
		out = append(out, obj.(*corev1.Pod))
	}
	return out
}

// ContainerID returns the runtime ID of a container of pod: its current
// attempt, or with previous the one before it (upstream's messages).
func (k *Kubelet) ContainerID(pod *corev1.Pod, container string, previous bool) (string, error) {
	pr, err := k.podRuntime(context.Background(), pod.UID)
	if err != nil {
		return "", err
	}
	if previous {
		if c := pr.previous[container]; c != nil {
			return c.ID, nil
		}
		return "", fmt.Errorf("previous terminated container %q in pod %q not found", container, pod.Name)
	}
	if c := pr.latest[container]; c != nil {
		return c.ID, nil
	}
	return "", fmt.Errorf("container %q in pod %q is waiting to start: ContainerCreating", container, pod.Name)
}

// PortForward connects stream to port on the pod's loopback, dialled from
// inside the pod's network namespace.
func (k *Kubelet) PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error {
	pr, err := k.podRuntime(ctx, pod.UID)
	if err != nil {
		return err
	}
	if pr.sandbox == nil {
		return fmt.Errorf("pod %q has no sandbox", pod.Name)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	var conn net.Conn
	dial := func() (err error) {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp4", addr)
		return err
	}
	if pr.sandbox.HostNetwork || pr.sandbox.NetNSPath == "" {
		err = dial()
	} else {
		// The socket stays in the namespace it was made in.
		err = network.Do(pr.sandbox.NetNSPath, dial)
	}
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace of pod %q: %w", port, pod.Name, err)
	}
	defer conn.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(conn, stream)
		if c, ok := conn.(*net.TCPConn); ok {
			_ = c.CloseWrite()
		}
	}()
	_, err = io.Copy(stream, conn)
	_ = stream.Close()
	wg.Wait()
	return err
}

// StatsSummary returns the node's and the running pods' CPU and memory
// usage from cgroups, and the node's filesystem.
func (k *Kubelet) StatsSummary(ctx context.Context) (*statsapi.Summary, error) {
	now := metav1.Now()
	sum := &statsapi.Summary{Node: statsapi.NodeStats{NodeName: k.cfg.NodeName, StartTime: metav1.NewTime(k.started)}}
	if cpu, mem, err := k.usage.Node(); err == nil {
		sum.Node.CPU, sum.Node.Memory = cpu, mem
	}
	if k.cfg.DataDir != "" {
		var fs unix.Statfs_t
		if unix.Statfs(k.cfg.DataDir, &fs) == nil {
			capacity, avail := fs.Blocks*uint64(fs.Bsize), fs.Bavail*uint64(fs.Bsize)
			used := capacity - fs.Bfree*uint64(fs.Bsize)
			inodes, free := fs.Files, fs.Ffree
			sum.Node.Fs = &statsapi.FsStats{Time: now, CapacityBytes: &capacity, AvailableBytes: &avail, UsedBytes: &used, Inodes: &inodes, InodesFree: &free}
		}
	}
	sbs, err := k.rt.ListSandboxes(ctx, nil)
	if err != nil {
		return nil, err
	}
	for _, sb := range sbs {
		cs, err := k.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID})
		if err != nil {
			continue
		}
		ps := statsapi.PodStats{
			PodRef:    statsapi.PodReference{Name: sb.Name, Namespace: sb.Namespace, UID: sb.UID},
			StartTime: metav1.NewTime(sb.CreatedAt),
		}
		running := false
		for _, c := range cs {
			if c.State != runtime.StateRunning {
				continue
			}
			running = true
			st := statsapi.ContainerStats{Name: c.Name, StartTime: metav1.NewTime(c.StartedAt)}
			st.CPU, st.Memory, _ = k.usage.Cgroup(filepath.Join(sb.CgroupParent, c.ID))
			ps.Containers = append(ps.Containers, st)
		}
		if !running {
			continue
		}
		ps.CPU, ps.Memory, _ = k.usage.Cgroup(sb.CgroupParent)
		sum.Pods = append(sum.Pods, ps)
	}
	return sum, nil
}
