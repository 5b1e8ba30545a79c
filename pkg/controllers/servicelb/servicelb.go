// Package servicelb gives LoadBalancer Services the nodes' addresses as
// their load balancer, as k3s' servicelb does: a type=LoadBalancer Service
// without spec.loadBalancerClass gets in status.loadBalancer.ingress the
// ExternalIP (else the InternalIP) of every Ready, schedulable node, with
// ipMode VIP, kept current as nodes come and go; the service proxy answers
// the Service's ports on those addresses. A Service that stops being a
// LoadBalancer loses the status. `--disable servicelb` turns it off.
//
// Nodes can be chosen as in k3s: once any node has the label
// svccontroller.k3s.cattle.io/enablelb, only nodes where it is "true" are
// used; node.kubernetes.io/exclude-from-external-load-balancers leaves a
// node out, as upstream's service controller does.
package servicelb

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Node labels that choose the load balancer's nodes.
const (
	LabelEnableLB  = "svccontroller.k3s.cattle.io/enablelb"
	LabelExcludeLB = "node.kubernetes.io/exclude-from-external-load-balancers"
	workers        = 2
	controllerName = "servicelb"
	queueName      = "servicelb"
	ipModeVIP      = corev1.LoadBalancerIPModeVIP
)

// Controller keeps the LoadBalancer Services' status.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	queue    controllers.Queue
}

// Start registers the Service and Node informers and launches the workers.
func Start(ctx context.Context, c *controllers.Context) error {
	svcs := c.Informers.Core().V1().Services()
	nodes := c.Informers.Core().V1().Nodes()
	lc := &Controller{client: c.Client, services: svcs.Lister(), nodes: nodes.Lister(), queue: controllers.NewQueue(queueName)}
	if _, err := svcs.Informer().AddEventHandler(controllers.EnqueueHandler(lc.queue)); err != nil {
		return fmt.Errorf("add service event handler: %w", err)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { lc.enqueueAll() },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || nodeChanged(o, n) {
				lc.enqueueAll()
			}
		},
		DeleteFunc: func(any) { lc.enqueueAll() },
	}); err != nil {
		return fmt.Errorf("add node event handler: %w", err)
	}
	c.Go(func() {
		controllers.RunWorkers(ctx, controllerName, lc.queue, workers, lc.sync, svcs.Informer().HasSynced, nodes.Informer().HasSynced)
	})
	return nil
}

// nodeChanged: only what decides the load balancer's addresses matters,
// not the heartbeats that update every node every few seconds.
func nodeChanged(o, n *corev1.Node) bool {
	return nodeUsable(o) != nodeUsable(n) || o.Labels[LabelEnableLB] != n.Labels[LabelEnableLB] ||
		!apiequality.Semantic.DeepEqual(o.Status.Addresses, n.Status.Addresses)
}

// enqueueAll queues every LoadBalancer Service (the others do not depend on
// nodes).
func (lc *Controller) enqueueAll() {
	svcs, err := lc.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
			controllers.Enqueue(lc.queue, s)
		}
	}
}

// sync writes the Service's load balancer status when it differs.
func (lc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := lc.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var want []corev1.LoadBalancerIngress
	switch {
	case svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil:
		nodes, err := lc.nodes.List(labels.Everything())
		if err != nil {
			return err
		}
		want = Ingress(svc, nodes)
	case svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
		return nil // another load balancer's Service
	case len(svc.Status.LoadBalancer.Ingress) == 0:
		return nil
	}
	if apiequality.Semantic.DeepEqual(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	upd := svc.DeepCopy()
	upd.Status.LoadBalancer.Ingress = want
	_, err = lc.client.CoreV1().Services(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// Ingress is the load balancer status of svc on nodes: the addresses of
// the usable nodes in svc's IP families, IPv4 first, each once.
func Ingress(svc *corev1.Service, nodes []*corev1.Node) []corev1.LoadBalancerIngress {
	chosen := nodes[:0:0]
	enableLB := false
	for _, n := range nodes {
		if _, ok := n.Labels[LabelEnableLB]; ok {
			enableLB = true
		}
	}
	for _, n := range nodes {
		if !nodeUsable(n) || (enableLB && n.Labels[LabelEnableLB] != "true") {
			continue
		}
		if _, ok := n.Labels[LabelExcludeLB]; ok {
			continue
		}
		chosen = append(chosen, n)
	}
	families := map[corev1.IPFamily]bool{}
	for _, f := range svc.Spec.IPFamilies {
		families[f] = true
	}
	seen := map[string]bool{}
	var ips []net.IP
	for _, n := range chosen {
		for _, ip := range nodeAddresses(n) {
			fam := corev1.IPv4Protocol
			if ip.To4() == nil {
				fam = corev1.IPv6Protocol
			}
			if (len(families) > 0 && !families[fam]) || seen[ip.String()] {
				continue
			}
			seen[ip.String()] = true
			ips = append(ips, ip)
		}
	}
	sort.Slice(ips, func(i, j int) bool {
		a4, b4 := ips[i].To4() != nil, ips[j].To4() != nil
		if a4 != b4 {
			return a4
		}
		return bytes.Compare(ips[i].To16(), ips[j].To16()) < 0
	})
	var out []corev1.LoadBalancerIngress
	for _, ip := range ips {
		out = append(out, corev1.LoadBalancerIngress{IP: ip.String(), IPMode: ptr.To(ipModeVIP)})
	}
	return out
}

// nodeUsable: Ready and schedulable.
func nodeUsable(n *corev1.Node) bool {
	if n.Spec.Unschedulable || n.DeletionTimestamp != nil {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeAddresses are a node's ExternalIPs, or its InternalIPs when it has
// none, as k3s' servicelb picks them.
func nodeAddresses(n *corev1.Node) []net.IP {
	var ext, internal []net.IP
	for _, a := range n.Status.Addresses {
		ip := net.ParseIP(a.Address)
		if ip == nil {
			continue
		}
		switch a.Type {
		case corev1.NodeExternalIP:
			ext = append(ext, ip)
		case corev1.NodeInternalIP:
			internal = append(internal, ip)
		}
	}
	if len(ext) > 0 {
		return ext
	}
	return internal
}
