package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

// hostPort is one host port a pod takes on its node.
type hostPort struct {
	Protocol corev1.Protocol
	IP       string
	Port     int32
}

const anyIP = "0.0.0.0"

// podHostPorts lists the host ports of a pod's containers (init containers that
// keep running included), with upstream's defaults: TCP and 0.0.0.0.
func podHostPorts(pod *corev1.Pod) []hostPort {
	var ports []hostPort
	add := func(cs []corev1.Container) {
		for i := range cs {
			for _, p := range cs[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{Protocol: p.Protocol, IP: p.HostIP, Port: p.HostPort}
				if hp.Protocol == "" {
					hp.Protocol = corev1.ProtocolTCP
				}
				if hp.IP == "" {
					hp.IP = anyIP
				}
				ports = append(ports, hp)
			}
		}
	}
	add(pod.Spec.Containers)
	add(pod.Spec.InitContainers)
	return ports
}

// nodePorts keeps pods whose host ports are taken off a node. A port on 0.0.0.0
// conflicts with the same port on any address.
type nodePorts struct{}

func (nodePorts) Name() string { return "NodePorts" }

func (nodePorts) Filter(state *CycleState, _ *corev1.Pod, n *NodeInfo) *Status {
	if len(state.req.Ports) == 0 || len(n.UsedPorts) == 0 {
		return nil
	}
	for _, want := range state.req.Ports {
		if portConflict(n.UsedPorts, want) {
			return unschedulable(reasonNodePorts)
		}
	}
	return nil
}

func portConflict(used map[hostPort]int, want hostPort) bool {
	if want.IP == anyIP {
		for u := range used {
			if u.Port == want.Port && u.Protocol == want.Protocol {
				return true
			}
		}
		return false
	}
	if used[want] > 0 {
		return true
	}
	return used[hostPort{Protocol: want.Protocol, IP: anyIP, Port: want.Port}] > 0
}
