package evaluator

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

// NewServiceEvaluator measures services: counts, load balancers and node ports.
func NewServiceEvaluator(list generic.ListFuncByNamespace) quota.Evaluator {
	return &evaluator{gr: corev1.Resource("services"), list: list, now: time.Now, handles: createOrUpdate,
		names: []corev1.ResourceName{corev1.ResourceServices, count(corev1.Resource("services")),
			corev1.ResourceServicesLoadBalancers, corev1.ResourceServicesNodePorts},
		usage: func(obj runtime.Object, _ time.Time) corev1.ResourceList { return ServiceUsage(obj.(*corev1.Service)) }}
}

// ServiceUsage is what a service uses; a LoadBalancer that does not allocate node
// ports uses only those it names.
func ServiceUsage(svc *corev1.Service) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourceServices: one(), count(corev1.Resource("services")): one()}
	nodePorts := 0
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		nodePorts = len(svc.Spec.Ports)
	case corev1.ServiceTypeLoadBalancer:
		out[corev1.ResourceServicesLoadBalancers] = one()
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					nodePorts++
				}
			}
		} else {
			nodePorts = len(svc.Spec.Ports)
		}
	}
	out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(int64(nodePorts), resource.DecimalSI)
	return out
}
