// Package nodetest removes what a test's node agent leaves on the host on
// purpose, for the end-to-end tests and the benchmarks that run agents: the
// agent keeps containerd and the pods running when it stops (so a restart
// re-adopts them), and the pods' networks, the bridge, the masquerade rule
// and the service proxy's pinned programs outlive it too.
//
//	n := nodetest.Node{Name: name, RunDir: runDir, AgentDir: agentDir, ...}
//	if err := n.Cleanup(); err != nil { t.Error(err) }
package nodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/pkg/agent/containerd"
	"github.com/skiff-k8s/skiff/pkg/network"
	"github.com/skiff-k8s/skiff/pkg/proxy"
)

// EvictionHard is the --eviction-hard of test agents: absolute disk
// thresholds, since the agent's percentages (nodefs.available<5%) put a
// developer's or CI's nearly full disk (12 GB free of 252 GB) under
// DiskPressure, which evicts every test pod and taints the node. Tests of
// eviction itself pass their own.
const EvictionHard = "memory.available<100Mi,nodefs.available<512Mi,nodefs.inodesFree<1%,imagefs.available<512Mi,imagefs.inodesFree<1%"

// Node is one test agent's state on the host, as its flags placed it.
type Node struct {
	// Name is the node's; its proxy's nftables table is skiff-proxy-<Name>.
	Name string
	// RunDir holds containerd's socket and pid file (containerd/), the
	// proxy's pins (bpf/) and whatever else the agent ran.
	RunDir string
	// AgentDir is <data-dir>/agent: the CNI state and the pods' volumes.
	AgentDir string
	// NetnsDir holds the pods' namespaces.
	NetnsDir string
	// Bridge is the pods' bridge.
	Bridge string
	// PodCIDR (nil when the node never got one) and ClusterCIDR of the
	// node's pod network.
	PodCIDR, ClusterCIDR *net.IPNet
	// Cgroup is the node's cgroup root below /sys/fs/cgroup (--cgroup-root).
	Cgroup string
	// Pods, when not nil, limits the pod networks torn down to these UIDs
	// (a shared network namespace dir may hold other nodes' pods).
	Pods map[string]bool
}

// Cleanup kills the node's containers and containerd, tears down its pod
// networks, removes its bridge, masquerade rule, proxy programs, mounts,
// cgroups and RunDir. It goes on past failures and returns them all.
func (n *Node) Cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	if c, err := containerd.Connect(ctx, filepath.Join(n.RunDir, "containerd", "containerd.sock")); err == nil {
		cs, _ := c.Containers(ctx)
		for _, ctr := range cs {
			if task, err := ctr.Task(ctx, nil); err == nil {
				_ = task.Kill(ctx, syscall.SIGKILL)
				if ch, err := task.Wait(ctx); err == nil {
					select {
					case <-ch:
					case <-time.After(10 * time.Second):
					}
				}
				_, _ = task.Delete(ctx)
			}
			_ = ctr.Delete(ctx)
		}
		c.Close()
	}
	if pid := ContainerdPID(n.RunDir); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if err := WaitGone(pid, time.Minute); err != nil {
			errs = append(errs, err)
		}
	}
	if n.PodCIDR != nil && n.AgentDir != "" {
		m, err := network.New(network.Config{PodCIDR: n.PodCIDR, ClusterCIDR: n.ClusterCIDR, DataDir: n.AgentDir,
			BridgeName: n.Bridge, NetnsDir: n.NetnsDir})
		if err == nil {
			uids, _ := m.List()
			for _, uid := range uids {
				if n.Pods != nil && !n.Pods[uid] {
					continue
				}
				if err := m.TeardownPod(ctx, uid); err != nil {
					errs = append(errs, fmt.Errorf("teardown pod network %s: %w", uid, err))
				}
			}
			if err := m.Uninstall(); err != nil {
				errs = append(errs, fmt.Errorf("remove the pod network: %w", err))
			}
		}
	}
	_ = exec.Command("ip", "link", "del", n.Bridge).Run() // when the node never had a podCIDR
	if err := proxy.Uninstall(filepath.Join(n.RunDir, "bpf"), "skiff-proxy-"+n.Name); err != nil {
		errs = append(errs, fmt.Errorf("remove the service proxy's programs: %w", err))
	}
	// Mounts left by a container killed above would keep the dirs busy.
	if out, err := exec.Command("findmnt", "-rn", "-o", "TARGET").Output(); err == nil {
		for _, m := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(m, n.RunDir) || (n.AgentDir != "" && strings.HasPrefix(m, n.AgentDir)) {
				_ = exec.Command("umount", "-l", m).Run()
			}
		}
	}
	if n.Cgroup != "" {
		// What the containers' removal above leaves in the node's cgroups:
		// the PID namespace holders of shared-PID pods, which only the
		// kubelet ends.
		for _, pid := range cgroupProcs(n.Cgroup) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			if err := WaitGone(pid, 10*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		RemoveCgroup(n.Cgroup)
	}
	os.RemoveAll(n.RunDir)
	return errors.Join(errs...)
}

// ContainerdPID reads the pid of the containerd the agent supervises from
// runDir; 0 when there is none.
func ContainerdPID(runDir string) int {
	b, err := os.ReadFile(filepath.Join(runDir, "containerd", "containerd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// WaitGone waits until pid has exited (or is a zombie nobody reaps).
func WaitGone(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return nil
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("pid %d still running after %v", pid, timeout)
}

// cgroupProcs lists the processes in the cgroup root and below it (in the
// pids hierarchy on cgroup v1, the unified one on v2).
func cgroupProcs(root string) []int {
	top := filepath.Join("/sys/fs/cgroup", "pids", root)
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", "cgroup.controllers")); err == nil {
		top = filepath.Join("/sys/fs/cgroup", root)
	}
	var pids []int
	_ = filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// RemoveCgroup removes a cgroup root with what is left below it (the QoS
// and pod cgroups), deepest first, in every hierarchy.
func RemoveCgroup(root string) {
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	rmdirTree(filepath.Join("/sys/fs/cgroup", root))
	for _, e := range entries {
		rmdirTree(filepath.Join("/sys/fs/cgroup", e.Name(), root))
	}
}

// rmdirTree removes an empty cgroup directory tree, children first.
func rmdirTree(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			rmdirTree(filepath.Join(dir, e.Name()))
		}
	}
	os.Remove(dir)
}

// DeleteAllPods deletes the pods of namespace ns with the grace period
// given and waits, up to two minutes, until the kubelet has removed them.
func DeleteAllPods(ctx context.Context, client kubernetes.Interface, ns string, grace int64) error {
	pods := client.CoreV1().Pods(ns)
	_ = pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{})
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := pods.List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("pods not deleted by the kubelet: %w", err)
	}
	return nil
}

// ServeTCP listens on addr inside the network namespace at nsPath and
// hands each connection to handle, on a goroutine of its own, until the
// returned listener is closed.
func ServeTCP(nsPath, addr string, handle func(net.Conn)) (net.Listener, error) {
	var l net.Listener
	if err := network.Do(nsPath, func() error {
		var err error
		l, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l, nil
}
