package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// TestPodResize resizes running pods in place through the pods/resize
// subresource, with stock kubectl, as upstream's kubelet does it: the
// containers' and the pod's cgroups change without a restart (or with one,
// where the container's resizePolicy asks), the status reports the
// allocated and actual resources, a resize beyond the node is Infeasible,
// one that does not fit beside the other pods is Deferred until it does
// (across a restart of skiff), and a memory limit below the usage is
// refused with reason Error. A pod named to the node that does not fit
// fails its admission (OutOfcpu, NodeAffinity, NodePorts).
func TestPodResize(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("needs cgroup v1 (cpu and memory hierarchies)")
	}
	n := kubeletStart(t)
	list := cpuMemList
	c0 := agnhost("c0", "sleep", "infinity")
	c0.Resources = corev1.ResourceRequirements{Requests: list("100m", "32Mi"), Limits: list("200m", "64Mi")}
	c1 := agnhost("c1", "sleep", "infinity")
	c1.Resources = corev1.ResourceRequirements{Requests: list("50m", "16Mi"), Limits: list("", "48Mi")}
	c1.ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer}}
	pod := n.createSpec(t, "resized", corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(int64(1)), Containers: []corev1.Container{c0, c1}})
	p := n.waitPod(t, "resized", "both running", allRunning)
	ids := []string{p.Status.ContainerStatuses[0].ContainerID, p.Status.ContainerStatuses[1].ContainerID}
	podDir := filepath.Join(n.cgroup, "kubepods", "burstable", "pod"+string(pod.UID))
	read := func(ctrl, dir, file string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, dir, file))
		if err != nil {
			t.Errorf("%v", err)
		}
		return strings.TrimSpace(string(b))
	}
	cdir := func(i int) string {
		return filepath.Join(podDir, strings.TrimPrefix(p.Status.ContainerStatuses[i].ContainerID, "containerd://"))
	}
	statusIs := func(i int, req, lim corev1.ResourceList) func(*corev1.Pod) bool {
		return func(p *corev1.Pod) bool {
			if !allRunning(p) || hasCond(p, corev1.PodResizePending) || hasCond(p, corev1.PodResizeInProgress) {
				return false
			}
			cs := p.Status.ContainerStatuses[i]
			return cs.Resources != nil && equalList(cs.Resources.Requests, req) && equalList(cs.Resources.Limits, lim) && equalList(cs.AllocatedResources, req)
		}
	}
	// The status reports what was allocated and what runs.
	n.waitPod(t, "resized", "resources in the status", statusIs(0, list("100m", "32Mi"), list("200m", "64Mi")))
	n.waitPod(t, "resized", "resources in the status", statusIs(1, list("50m", "16Mi"), list("", "48Mi")))

	t.Run("InPlace", func(t *testing.T) {
		n.s.Kubectl(t, "patch", "pod", "resized", "--subresource", "resize", "--patch",
			`{"spec":{"containers":[{"name":"c0","resources":{"requests":{"cpu":"150m"},"limits":{"cpu":"300m","memory":"96Mi"}}}]}}`)
		p = n.waitPod(t, "resized", "c0 resized", statusIs(0, list("150m", "32Mi"), list("300m", "96Mi")))
		if p.Generation != 2 || p.Status.ObservedGeneration != p.Generation {
			t.Errorf("generation %d, observed %d", p.Generation, p.Status.ObservedGeneration)
		}
		for i, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount != 0 || cs.ContainerID != ids[i] {
				t.Errorf("%s restarted (%d, %s was %s)", cs.Name, cs.RestartCount, cs.ContainerID, ids[i])
			}
		}
		for _, f := range [][4]string{
			{"cpu", cdir(0), "cpu.shares", "153"},
			{"cpu", cdir(0), "cpu.cfs_quota_us", "30000"},
			{"memory", cdir(0), "memory.limit_in_bytes", fmt.Sprint(96 << 20)},
			{"cpu", podDir, "cpu.shares", "204"},                                     // (150m + 50m) of shares
			{"memory", podDir, "memory.limit_in_bytes", fmt.Sprint((96 + 48) << 20)}, // every container limits memory
		} {
			if got := read(f[0], f[1], f[2]); got != f[3] {
				t.Errorf("%s of %s: %s, want %s", f[2], f[1], got, f[3])
			}
		}
		n.waitEvent(t, "resized", corev1.EventTypeNormal, "ResizeStarted", `Pod resize started: {"containers":[{"name":"c0","resources":{"limits":{"cpu":"300m","memory":"96Mi"},"requests":{"cpu":"150m","memory":"32Mi"}}}`)
		n.waitEvent(t, "resized", corev1.EventTypeNormal, "ResizeCompleted", `Pod resize completed: {"containers":[{"name":"c0"`)
	})

	t.Run("RestartContainer", func(t *testing.T) {
		n.s.Kubectl(t, "patch", "pod", "resized", "--subresource", "resize", "--patch",
			`{"spec":{"containers":[{"name":"c1","resources":{"limits":{"memory":"80Mi"}}}]}}`)
		p = n.waitPod(t, "resized", "c1 restarted with its new limit", func(p *corev1.Pod) bool {
			return statusIs(1, list("50m", "16Mi"), list("", "80Mi"))(p) && p.Status.ContainerStatuses[1].RestartCount == 1
		})
		if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.ContainerID != ids[0] {
			t.Errorf("c0 restarted with c1: %+v", cs)
		}
		if got := read("memory", cdir(1), "memory.limit_in_bytes"); got != fmt.Sprint(80<<20) {
			t.Errorf("c1's memory limit %s", got)
		}
		n.waitEvent(t, "resized", corev1.EventTypeNormal, "Killing", "Container c1 resize requires restart")
		// Again: a restart for a resize is no crash, and has no back-off.
		n.s.Kubectl(t, "patch", "pod", "resized", "--subresource", "resize", "--patch",
			`{"spec":{"containers":[{"name":"c1","resources":{"limits":{"memory":"88Mi"}}}]}}`)
		p = n.waitPod(t, "resized", "c1 restarted again", func(p *corev1.Pod) bool {
			return statusIs(1, list("50m", "16Mi"), list("", "88Mi"))(p) && p.Status.ContainerStatuses[1].RestartCount == 2
		})
		if c := n.eventCount(t, "resized", "BackOff"); c != 0 {
			t.Errorf("%d BackOff events for restarts for resizes", c)
		}
	})

	t.Run("NotRunning", func(t *testing.T) {
		// A container in its crash back-off takes its new resources at its
		// next attempt; the resize is carried out once, not at every sync.
		c := busybox("c", "exit 1")
		c.Resources = corev1.ResourceRequirements{Requests: list("10m", ""), Limits: list("", "32Mi")}
		n.createSpec(t, "crashing", corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(int64(1)), Containers: []corev1.Container{c}})
		n.waitPod(t, "crashing", "in back-off", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
		})
		n.s.Kubectl(t, "patch", "pod", "crashing", "--subresource", "resize", "--patch",
			`{"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"48Mi"}}}]}}`)
		p := n.waitPod(t, "crashing", "its allocation", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return cs.Resources != nil && equalList(cs.Resources.Limits, list("", "48Mi"))
		})
		restarts := p.Status.ContainerStatuses[0].RestartCount
		n.waitPod(t, "crashing", "its next attempt", func(p *corev1.Pod) bool { return p.Status.ContainerStatuses[0].RestartCount > restarts })
		if got := n.eventCount(t, "crashing", "ResizeStarted"); got != 1 {
			t.Errorf("%d ResizeStarted events, want 1", got)
		}
	})

	t.Run("Infeasible", func(t *testing.T) {
		n.s.Kubectl(t, "patch", "pod", "resized", "--subresource", "resize", "--patch",
			`{"spec":{"containers":[{"name":"c0","resources":{"requests":{"cpu":"100"},"limits":{"cpu":"100"}}}]}}`)
		p = n.waitPod(t, "resized", "PodResizePending", func(p *corev1.Pod) bool { return hasCond(p, corev1.PodResizePending) })
		c := cond(p, corev1.PodResizePending)
		if c.Reason != "Infeasible" || !strings.HasPrefix(c.Message, "Node didn't have enough capacity: cpu, requested: 100050, capacity: ") || c.ObservedGeneration != p.Generation {
			t.Errorf("condition %+v (generation %d)", c, p.Generation)
		}
		if cs := p.Status.ContainerStatuses[0]; !equalList(cs.AllocatedResources, list("150m", "32Mi")) {
			t.Errorf("allocated %v, want the last allocation", cs.AllocatedResources)
		}
		n.waitEvent(t, "resized", corev1.EventTypeWarning, "ResizeInfeasible", "Pod resize Infeasible: ")
		// Asking for what runs again ends it.
		n.s.Kubectl(t, "patch", "pod", "resized", "--subresource", "resize", "--patch",
			`{"spec":{"containers":[{"name":"c0","resources":{"requests":{"cpu":"150m"},"limits":{"cpu":"300m"}}}]}}`)
		n.waitPod(t, "resized", "no resize pending", statusIs(0, list("150m", "32Mi"), list("300m", "96Mi")))
	})

	t.Run("DeferredAcrossRestart", func(t *testing.T) {
		alloc := n.node(t).Status.Allocatable[corev1.ResourceCPU]
		// A pod taking all but 300m of the node's CPU: resized asks for 450m more.
		hogCPU := alloc.MilliValue() - 300 - 200
		hog := agnhost("c", "sleep", "infinity")
		hog.Resources.Requests = list(fmt.Sprintf("%dm", hogCPU), "")
		n.createSpec(t, "hog", corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(int64(1)), Containers: []corev1.Container{hog}})
		n.waitPod(t, "hog", "Running", podRunning)
		n.s.Kubectl(t, "patch", "pod", "resized", "--subresource", "resize", "--patch",
			`{"spec":{"containers":[{"name":"c0","resources":{"requests":{"cpu":"600m"},"limits":{"cpu":"600m"}}}]}}`)
		deferred := func(p *corev1.Pod) bool {
			c := cond(p, corev1.PodResizePending)
			return c != nil && c.Reason == "Deferred"
		}
		p = n.waitPod(t, "resized", "resize Deferred", deferred)
		want := fmt.Sprintf("Node didn't have enough resource: cpu, requested: 650, used: %d, capacity: %d", hogCPU, alloc.MilliValue())
		if c := cond(p, corev1.PodResizePending); !strings.HasPrefix(c.Message, "Node didn't have enough resource: cpu, requested: 650, used: ") {
			t.Errorf("Deferred message %q, want about %q", c.Message, want)
		}
		n.waitEvent(t, "resized", corev1.EventTypeWarning, "ResizeDeferred", "Pod resize Deferred: ")
		// Still deferred, and still running as allocated, after kill -9.
		n.s.Kill()
		n.s.Restart(t)
		n.waitReady(t)
		time.Sleep(3 * time.Second)
		p = n.waitPod(t, "resized", "resize Deferred", deferred)
		if cs := p.Status.ContainerStatuses[0]; !equalList(cs.AllocatedResources, list("150m", "32Mi")) || cs.RestartCount != 0 {
			t.Errorf("after the restart: allocated %v, restarts %d", cs.AllocatedResources, cs.RestartCount)
		}
		if got := read("cpu", cdir(0), "cpu.shares"); got != "153" {
			t.Errorf("c0's cpu.shares %s while deferred, want 153", got)
		}
		// Room made: the next sync resizes it.
		n.deletePod(t, "hog")
		n.waitPod(t, "resized", "c0 resized", statusIs(0, list("600m", "32Mi"), list("600m", "96Mi")))
		if got := read("cpu", cdir(0), "cpu.shares"); got != "614" {
			t.Errorf("c0's cpu.shares %s, want 614", got)
		}
	})

	t.Run("MemoryBelowUsage", func(t *testing.T) {
		m := busybox("m", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 && sleep 3600")
		m.Resources = corev1.ResourceRequirements{Requests: list("10m", "64Mi"), Limits: list("", "128Mi")}
		n.createSpec(t, "filled", corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(int64(1)), Containers: []corev1.Container{m}})
		n.waitPod(t, "filled", "Running", allRunning)
		time.Sleep(time.Second) // dd is done
		n.s.Kubectl(t, "patch", "pod", "filled", "--subresource", "resize", "--patch",
			`{"spec":{"containers":[{"name":"m","resources":{"requests":{"memory":"16Mi"},"limits":{"memory":"20Mi"}}}]}}`)
		p := n.waitPod(t, "filled", "resize Error", func(p *corev1.Pod) bool {
			c := cond(p, corev1.PodResizeInProgress)
			return c != nil && c.Reason == "Error"
		})
		c := cond(p, corev1.PodResizeInProgress)
		for _, want := range []string{"cannot decrease memory limits: [", "attempting to set pod memory limit (20971520) below current usage (", `attempting to set container "m" memory limit (20971520) below current usage (`} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("message %q lacks %q", c.Message, want)
			}
		}
		if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 0 || !equalList(cs.Resources.Limits, list("", "128Mi")) || !equalList(cs.AllocatedResources, list("10m", "16Mi")) {
			t.Errorf("status %+v", cs)
		}
		n.waitEvent(t, "filled", corev1.EventTypeWarning, "ResizeError", "Pod resize error: ")
		// With the memory freed, the next sync carries it out.
		n.s.Kubectl(t, "exec", "filled", "--", "rm", "/dev/shm/fill")
		n.waitPod(t, "filled", "resized", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return !hasCond(p, corev1.PodResizeInProgress) && cs.Resources != nil && equalList(cs.Resources.Limits, list("", "20Mi"))
		})
	})

	t.Run("Admission", func(t *testing.T) {
		// Named to the node, past the scheduler: the kubelet's admission
		// refuses what does not fit beside the pods it runs, as upstream's.
		alloc := n.node(t).Status.Allocatable[corev1.ResourceCPU]
		big := agnhost("c", "sleep", "infinity")
		big.Resources.Requests = list(fmt.Sprintf("%dm", alloc.MilliValue()-100), "")
		n.createSpec(t, "too-big", corev1.PodSpec{NodeName: n.name, Containers: []corev1.Container{big}})
		p := n.waitPod(t, "too-big", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		prefix := fmt.Sprintf("Pod was rejected: Node didn't have enough resource: cpu, requested: %d, used: ", alloc.MilliValue()-100)
		suffix := fmt.Sprintf(", capacity: %d", alloc.MilliValue())
		if p.Status.Reason != "OutOfcpu" || !strings.HasPrefix(p.Status.Message, prefix) || !strings.HasSuffix(p.Status.Message, suffix) {
			t.Errorf("status reason %q message %q", p.Status.Reason, p.Status.Message)
		}
		if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].ContainerID != "" {
			t.Errorf("a rejected pod's container ran: %+v", cs)
		}
		n.waitEvent(t, "too-big", corev1.EventTypeWarning, "OutOfcpu", "Node didn't have enough resource: cpu, requested: ")

		// A node selector the node does not match, and a host port taken.
		n.createSpec(t, "elsewhere", corev1.PodSpec{NodeName: n.name, NodeSelector: map[string]string{"skiff.test/nowhere": "x"},
			Containers: []corev1.Container{agnhost("c", "sleep", "infinity")}})
		port := func() corev1.PodSpec {
			c := agnhost("c", "sleep", "infinity")
			c.Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 18089}}
			return corev1.PodSpec{NodeName: n.name, TerminationGracePeriodSeconds: ptr.To(int64(1)), Containers: []corev1.Container{c}}
		}
		n.createSpec(t, "port-first", port())
		n.waitPod(t, "port-first", "Running", podRunning)
		n.createSpec(t, "port-second", port())
		// And a pod for another operating system, by its spec or by its label.
		ctx := context.Background()
		pods := n.s.Client.CoreV1().Pods("default")
		n.createSpec(t, "windows-spec", corev1.PodSpec{NodeName: n.name, OS: &corev1.PodOS{Name: corev1.Windows},
			Containers: []corev1.Container{agnhost("c", "sleep", "infinity")}})
		labelled := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "windows-label", Labels: map[string]string{corev1.LabelOSStable: "windows"}},
			Spec: corev1.PodSpec{NodeName: n.name, Containers: []corev1.Container{agnhost("c", "sleep", "infinity")}}}
		if _, err := pods.Create(ctx, labelled, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range [][3]string{
			{"elsewhere", "NodeAffinity", "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"},
			{"port-second", "NodePorts", "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"},
			{"windows-spec", "PodOSNotSupported", "Pod was rejected: Failed to admit pod as the OS field doesn't match node OS"},
			{"windows-label", "PodOSSelectorNodeLabelDoesNotMatch", "Pod was rejected: Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"},
		} {
			p := n.waitPod(t, tc[0], "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
			if p.Status.Reason != tc[1] || p.Status.Message != tc[2] {
				t.Errorf("%s: reason %q message %q, want %q %q", tc[0], p.Status.Reason, p.Status.Message, tc[1], tc[2])
			}
		}

		// A NoExecute taint: the taint eviction controller deletes the pods
		// that do not tolerate it, and the kubelet refuses a new one (which
		// the controller deletes too: its event tells).
		node := n.node(t)
		taint := corev1.Taint{Key: "skiff.test/admission", Value: "x", Effect: corev1.TaintEffectNoExecute}
		node.Spec.Taints = append(node.Spec.Taints, taint)
		if _, err := n.s.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				node := n.node(t)
				node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == taint.Key })
				_, err := n.s.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
				return err
			})
			if err != nil {
				t.Errorf("untaint: %v", err)
			}
		})
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			p, err := pods.Get(ctx, "port-first", metav1.GetOptions{})
			return apierrors.IsNotFound(err) || err == nil && p.DeletionTimestamp != nil, nil
		})
		if err != nil {
			t.Fatalf("port-first not deleted by the taint eviction controller: %v", err)
		}
		n.createSpec(t, "tolerated", corev1.PodSpec{NodeName: n.name, Containers: []corev1.Container{agnhost("c", "sleep", "infinity")},
			Tolerations: []corev1.Toleration{{Key: taint.Key, Operator: corev1.TolerationOpEqual, Value: "x", Effect: corev1.TaintEffectNoExecute}}})
		// The controller deletes an untolerating pod too, and one deleted
		// before the kubelet saw it is never admitted: then try another.
		rejected := false
		for i := 0; i < 5 && !rejected; i++ {
			name := fmt.Sprintf("untolerated-%d", i)
			n.createSpec(t, name, corev1.PodSpec{NodeName: n.name, Containers: []corev1.Container{agnhost("c", "sleep", "infinity")},
				Tolerations: []corev1.Toleration{{Key: "skiff.test/other", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}})
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				for _, e := range n.podEvents(t, name) {
					switch {
					case e.Reason == "TaintToleration":
						if want := "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"; e.Type != corev1.EventTypeWarning || e.Message != want {
							t.Errorf("%s: event %s %s %q, want Warning %q", name, e.Type, e.Reason, e.Message, want)
						}
						rejected = true
					case e.Reason == "Started" || e.Reason == "Created":
						t.Errorf("%s: a rejected pod's container ran: %s %s", name, e.Reason, e.Message)
					}
				}
				if rejected {
					return true, nil
				}
				_, err := pods.Get(ctx, name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
			if err != nil {
				t.Fatalf("%s: neither rejected nor deleted: %v", name, err)
			}
		}
		if !rejected {
			t.Error("no untolerating pod was rejected with reason TaintToleration")
		}
		n.waitPod(t, "tolerated", "Running", podRunning)
	})
}

// cpuMemList is a resource list of the CPU and memory given ("" for none).
func cpuMemList(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func hasCond(p *corev1.Pod, t corev1.PodConditionType) bool { return cond(p, t) != nil }

func cond(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// equalList compares resource lists by value, nil and empty alike.
func equalList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

// node returns the node object.
func (n *kubeletNode) node(t *testing.T) *corev1.Node {
	t.Helper()
	node, err := n.s.Client.CoreV1().Nodes().Get(context.Background(), n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return node
}
