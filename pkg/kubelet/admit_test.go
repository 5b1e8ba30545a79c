package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestInsufficient(t *testing.T) {
	pod := func(uid, cpu string) *corev1.Pod {
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
		p.UID = types.UID("u-" + uid)
		if cpu != "" {
			p.Spec.Containers[0].Resources.Requests = rl("cpu", cpu)
		}
		return p
	}
	alloc := rl("cpu", "2", "memory", "1Gi", "pods", "3")
	others := []*corev1.Pod{pod("a", "500m"), pod("b", "")}
	for _, tc := range []struct {
		name         string
		pod          *corev1.Pod
		others       []*corev1.Pod
		wantResource corev1.ResourceName
		wantMsg      string
	}{
		{"fits", pod("x", "1500m"), others, "", ""},
		{"cpu", pod("x", "1501m"), others, corev1.ResourceCPU, "Node didn't have enough resource: cpu, requested: 1501, used: 500, capacity: 2000"},
		{"no request fits anywhere", pod("x", ""), []*corev1.Pod{pod("c", "2")}, "", ""},
		{"pods", pod("x", ""), append(others, pod("c", "")), corev1.ResourcePods, "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3"},
	} {
		n, msg := insufficient(tc.pod, tc.others, nil, alloc)
		if n != tc.wantResource || msg != tc.wantMsg {
			t.Errorf("%s: %q %q, want %q %q", tc.name, n, msg, tc.wantResource, tc.wantMsg)
		}
	}
}

func TestHostPortsConflict(t *testing.T) {
	pod := func(ports ...corev1.ContainerPort) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: ports}}}}
	}
	others := []*corev1.Pod{pod(corev1.ContainerPort{ContainerPort: 80, HostPort: 8080}), pod(corev1.ContainerPort{ContainerPort: 53, HostPort: 5353, Protocol: corev1.ProtocolUDP, HostIP: "127.0.0.1"})}
	for _, tc := range []struct {
		name string
		port corev1.ContainerPort
		want bool
	}{
		{"same port", corev1.ContainerPort{ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP}, true},
		{"same port, other protocol", corev1.ContainerPort{ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolUDP}, false},
		{"same port, any address against one", corev1.ContainerPort{ContainerPort: 53, HostPort: 5353, Protocol: corev1.ProtocolUDP}, true},
		{"same port, other address", corev1.ContainerPort{ContainerPort: 53, HostPort: 5353, Protocol: corev1.ProtocolUDP, HostIP: "127.0.0.2"}, false},
		{"no host port", corev1.ContainerPort{ContainerPort: 8080}, false},
	} {
		if got := hostPortsConflict(pod(tc.port), others); got != tc.want {
			t.Errorf("%s: conflict %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestToleratesNoExecute(t *testing.T) {
	node := func(effects ...corev1.TaintEffect) *corev1.Node {
		n := &corev1.Node{}
		for _, e := range effects {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "k", Value: "v", Effect: e})
		}
		return n
	}
	tolerating := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}}}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		node *corev1.Node
		want bool
	}{
		{"no taints", &corev1.Pod{}, node(), true},
		{"only NoSchedule and PreferNoSchedule, which the scheduler minds", &corev1.Pod{}, node(corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule), true},
		{"NoExecute untolerated", &corev1.Pod{}, node(corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute), false},
		{"NoExecute tolerated", tolerating, node(corev1.TaintEffectNoExecute), true},
	} {
		if got := toleratesNoExecute(tc.pod, tc.node); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
