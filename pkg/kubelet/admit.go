package kubelet

import (
	"context"
	"fmt"
	goruntime "runtime"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/eviction"
	"github.com/skiff-k8s/skiff/pkg/sysctl"
)

// Upstream's predicate admission failures (kubelet/lifecycle): the reason
// is the predicate's name, the message "Predicate <name> failed: <why>".
const (
	predicateNodeAffinity    = "NodeAffinity"
	predicateNodePorts       = "NodePorts"
	predicateTaintToleration = "TaintToleration"
	whyNodeAffinity          = "node(s) didn't match Pod's node affinity/selector"
	whyNodePorts             = "node(s) didn't have free ports for the requested pod ports"
	whyTaintToleration       = "node(s) had taints that the pod didn't tolerate"
)

// Upstream's admission failures for a pod meant for another operating
// system: by its kubernetes.io/os label, or by its spec.os.
const (
	reasonOSLabel  = "PodOSSelectorNodeLabelDoesNotMatch"
	reasonOSField  = "PodOSNotSupported"
	messageOSLabel = "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"
	messageOSField = "Failed to admit pod as the OS field doesn't match node OS"
)

// admit applies the kubelet's admission to a pod about to start for the
// first time, in upstream's order: the eviction manager's (a rejected pod
// fails with reason Evicted), the sysctl allowlist's (reason
// SysctlForbidden), the pod's operating system (its kubernetes.io/os label,
// reason PodOSSelectorNodeLabelDoesNotMatch, and spec.os,
// PodOSNotSupported), then upstream's general predicates against the pods
// admitted before it: the node's room for its requests (reason OutOfcpu,
// OutOfmemory or OutOfpods), its node selector and required node affinity
// (NodeAffinity), its host ports (NodePorts), and last the node's NoExecute
// taints, which it must tolerate (TaintToleration). The scheduler checks
// the same, but its view can be stale, and a pod may name its node itself.
func (k *Kubelet) admit(pod *corev1.Pod, w *podWorker) bool {
	if w.admitted {
		return true
	}
	if k.eviction != nil {
		if ok, msg := k.eviction.Admit(pod, qosClass(pod) == corev1.PodQOSBestEffort); !ok {
			k.reject(pod, eviction.Reason, msg)
			return false
		}
	}
	if k.sysctls != nil {
		if msg := k.sysctls.Admit(pod); msg != "" {
			k.reject(pod, sysctl.ForbiddenReason, msg)
			return false
		}
	}
	if osName, ok := pod.Labels[corev1.LabelOSStable]; ok && osName != goruntime.GOOS {
		k.reject(pod, reasonOSLabel, messageOSLabel)
		return false
	}
	if pod.Spec.OS != nil && string(pod.Spec.OS.Name) != goruntime.GOOS {
		k.reject(pod, reasonOSField, messageOSField)
		return false
	}
	// One admission at a time, so that two pods cannot both take the last
	// room or the same port.
	k.admitMu.Lock()
	defer k.admitMu.Unlock()
	others := k.admittedOthers(pod)
	if n, msg := insufficient(pod, others, k.allocs, k.nodeAllocatable()); msg != "" {
		k.reject(pod, "OutOf"+string(n), msg)
		return false
	}
	if !k.matchesNode(pod) {
		k.reject(pod, predicateNodeAffinity, fmt.Sprintf("Predicate %s failed: %s", predicateNodeAffinity, whyNodeAffinity))
		return false
	}
	if hostPortsConflict(pod, others) {
		k.reject(pod, predicateNodePorts, fmt.Sprintf("Predicate %s failed: %s", predicateNodePorts, whyNodePorts))
		return false
	}
	if !k.fitsNode(func(n *corev1.Node) bool { return toleratesNoExecute(pod, n) }) {
		k.reject(pod, predicateTaintToleration, fmt.Sprintf("Predicate %s failed: %s", predicateTaintToleration, whyTaintToleration))
		return false
	}
	k.mu.Lock()
	w.admitted = true
	k.mu.Unlock()
	return true
}

// admittedOthers are the node's pods other than pod that were admitted, or
// started before the agent did, and have not finished.
func (k *Kubelet) admittedOthers(pod *corev1.Pod) []*corev1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	others := make([]*corev1.Pod, 0, len(k.pods))
	for uid, p := range k.pods {
		if w := k.workers[uid]; uid != pod.UID && !isTerminal(p.Status.Phase) && (p.Status.StartTime != nil || w != nil && w.admitted) {
			others = append(others, p)
		}
	}
	return others
}

// matchesNode reports whether the pod's node selector and required node
// affinity match the node (see fitsNode).
func (k *Kubelet) matchesNode(pod *corev1.Pod) bool {
	if a := pod.Spec.Affinity; len(pod.Spec.NodeSelector) == 0 &&
		(a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil) {
		return true
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	return k.fitsNode(func(n *corev1.Node) bool {
		fits, _ := affinity.Match(n)
		return fits
	})
}

// toleratesNoExecute reports whether the pod tolerates each of the node's
// NoExecute taints, the only ones a kubelet minds.
func toleratesNoExecute(pod *corev1.Pod, node *corev1.Node) bool {
	_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations,
		func(t *corev1.Taint) bool { return t.Effect == corev1.TaintEffectNoExecute }, false)
	return !untolerated
}

// nodeChanged keeps the node the informer shows for admission.
func (k *Kubelet) nodeChanged(obj any) {
	if n, ok := obj.(*corev1.Node); ok && n.Name == k.cfg.NodeName {
		k.mu.Lock()
		k.node = n
		k.mu.Unlock()
	}
}

// admissionFields trims a node to what admission reads (its labels and its
// spec's taints): the status, with its image list, is the agent's own.
func admissionFields(obj any) (any, error) {
	if n, ok := obj.(*corev1.Node); ok {
		n.ManagedFields = nil
		n.Annotations = nil
		n.Status = corev1.NodeStatus{}
	}
	return obj, nil
}

// fitsNode reports whether fits holds for the node: as the node informer
// shows it, or, before the pod is failed, as it is now (a change may not
// have reached the informer yet), as upstream's kubelet re-reads it. If the
// node cannot be read now, the informer's word stands; without either, the
// scheduler's does.
func (k *Kubelet) fitsNode(fits func(*corev1.Node) bool) bool {
	k.mu.Lock()
	cached := k.node
	k.mu.Unlock()
	if cached != nil && fits(cached) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return cached == nil
	}
	return fits(node)
}

// insufficient names the resource of the node's allocatable that the pod's
// requests do not fit in beside others' (their allocations where a resize
// is pending), with upstream's message; "" when they fit. Pods count one
// each, and come first, as in upstream's predicate admission.
func insufficient(pod *corev1.Pod, others []*corev1.Pod, allocs *allocations, allocatable corev1.ResourceList) (corev1.ResourceName, string) {
	used := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(len(others)), resource.DecimalSI)}
	for _, p := range others {
		if a := allocs.get(p.UID); a != nil {
			p = withResources(p, a)
		}
		for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			q := used[n]
			q.Add(podTotal(p, n, false))
			used[n] = q
		}
	}
	for _, n := range []corev1.ResourceName{corev1.ResourcePods, corev1.ResourceCPU, corev1.ResourceMemory} {
		capacity, ok := allocatable[n]
		if !ok {
			continue
		}
		req := *resource.NewQuantity(1, resource.DecimalSI)
		if n != corev1.ResourcePods {
			req = podTotal(pod, n, false)
		}
		u := used[n]
		total := req.DeepCopy()
		total.Add(u)
		if !req.IsZero() && total.Cmp(capacity) > 0 {
			return n, fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
				n, resourceValue(n, req), resourceValue(n, u), resourceValue(n, capacity))
		}
	}
	return "", ""
}

// resourceValue is q in the unit upstream's messages give n in: millicores
// for CPU, bytes for memory, a count for pods.
func resourceValue(n corev1.ResourceName, q resource.Quantity) int64 {
	if n == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

// hostPortsConflict reports whether a host port of pod is taken by one of
// others, as upstream's NodePorts predicate: same port and protocol, and
// host IPs that overlap (an empty or 0.0.0.0 one overlaps all).
func hostPortsConflict(pod *corev1.Pod, others []*corev1.Pod) bool {
	type hostPort struct {
		ip       string
		protocol corev1.Protocol
		port     int32
	}
	ports := func(p *corev1.Pod) []hostPort {
		var out []hostPort
		for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for _, c := range cs {
				for _, cp := range c.Ports {
					if cp.HostPort <= 0 {
						continue
					}
					hp := hostPort{ip: cp.HostIP, protocol: cp.Protocol, port: cp.HostPort}
					if hp.ip == "" {
						hp.ip = "0.0.0.0"
					}
					if hp.protocol == "" {
						hp.protocol = corev1.ProtocolTCP
					}
					out = append(out, hp)
				}
			}
		}
		return out
	}
	want := ports(pod)
	if len(want) == 0 {
		return false
	}
	for _, o := range others {
		for _, used := range ports(o) {
			for _, w := range want {
				if w.port == used.port && w.protocol == used.protocol &&
					(w.ip == used.ip || w.ip == "0.0.0.0" || used.ip == "0.0.0.0") {
					return true
				}
			}
		}
	}
	return false
}
