package service

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/util/dryrun"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/registry/core/service/allocator"
	"github.com/skiff-k8s/skiff/pkg/registry/core/service/ipallocator"
	"github.com/skiff-k8s/skiff/pkg/registry/core/service/portallocator"
)

// allocators hold a Service's ClusterIPs and NodePorts for it: allocated when it is
// created or changes type, released when it is deleted or no longer needs them. A
// create or update that fails after allocating gives back what it took.
type allocators struct {
	ips   *ipallocator.Allocator
	ports *portallocator.Allocator
	// exists reports whether the Service is already stored, so that re-creating one
	// fails as AlreadyExists rather than on the IP or port it already holds.
	exists func(ctx context.Context, name string) bool
	// repair, when set, reconciles claims with Services in the background.
	repair *repair
}

// txn records what one create or update claimed, to give it back on failure, and
// what it frees, which is released only on success.
type txn struct {
	a           *allocators
	owner       allocator.Owner
	dryRun      bool
	ips         []net.IP
	ports       []int
	freeIPs     []net.IP
	freePorts   []int
	portsByPort map[int32]int32 // service port -> node port allocated dynamically in this txn
}

func (t *txn) finish(ctx context.Context, success bool) {
	if t.dryRun {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ips, ports := t.ips, t.ports
	if success {
		ips, ports = t.freeIPs, t.freePorts
	}
	for _, ip := range ips {
		if err := t.a.ips.Release(ctx, ip, t.owner); err != nil {
			klog.ErrorS(err, "release ClusterIP", "service", t.owner, "ip", ip)
		}
	}
	for _, p := range ports {
		if err := t.a.ports.Release(ctx, p, t.owner); err != nil {
			klog.ErrorS(err, "release NodePort", "service", t.owner, "port", p)
		}
	}
	t.ips, t.ports, t.freeIPs, t.freePorts = nil, nil, nil, nil
}

// claimIP claims ip (a dry run only checks it is free) and records it to give back on failure.
func (t *txn) claimIP(ctx context.Context, ip net.IP) error {
	if t.dryRun {
		return t.a.ips.CheckFree(ctx, ip)
	}
	if err := t.a.ips.Allocate(ctx, ip, t.owner); err != nil {
		return err
	}
	t.ips = append(t.ips, ip)
	return nil
}

// claimNextIP claims the next free IP (a dry run only looks at it) and records it.
func (t *txn) claimNextIP(ctx context.Context) (net.IP, error) {
	if t.dryRun {
		return t.a.ips.PeekNext(ctx)
	}
	ip, err := t.a.ips.AllocateNext(ctx, t.owner)
	if err == nil {
		t.ips = append(t.ips, ip)
	}
	return ip, err
}

// claimPort claims node port p (a dry run only checks it is free) and records it.
func (t *txn) claimPort(ctx context.Context, p int) error {
	if t.dryRun {
		return t.a.ports.CheckFree(ctx, p)
	}
	if err := t.a.ports.Allocate(ctx, p, t.owner); err != nil {
		return err
	}
	t.ports = append(t.ports, p)
	return nil
}

// claimNextPort claims the next free node port (a dry run only looks at it) and records it.
func (t *txn) claimNextPort(ctx context.Context) (int, error) {
	if t.dryRun {
		return t.a.ports.PeekNext(ctx)
	}
	np, err := t.a.ports.AllocateNext(ctx, t.owner)
	if err == nil {
		t.ports = append(t.ports, np)
	}
	return np, err
}

func ownerOf(ctx context.Context, svc *corev1.Service) allocator.Owner {
	ns := svc.Namespace
	if ns == "" {
		ns = genericapirequest.NamespaceValue(ctx)
	}
	return allocator.Owner{Namespace: ns, Name: svc.Name}
}

func invalid(svc *corev1.Service, errs ...*field.Error) error {
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
}

// allocClusterIP gives svc a ClusterIP: the one asked for, or the next free one.
func (t *txn) allocClusterIP(ctx context.Context, svc *corev1.Service) error {
	s := &svc.Spec
	if isHeadless(svc) {
		return nil
	}
	if s.ClusterIP == "" {
		ip, err := t.claimNextIP(ctx)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %v", err))
		}
		s.ClusterIP, s.ClusterIPs = ip.String(), []string{ip.String()}
		return nil
	}
	ip := net.ParseIP(s.ClusterIP)
	if ip == nil || (len(s.ClusterIPs) > 0 && s.ClusterIPs[0] != s.ClusterIP) {
		return nil // validation reports it
	}
	if err := t.claimIP(ctx, ip); err != nil {
		return invalid(svc, field.Invalid(field.NewPath("spec", "clusterIPs"), s.ClusterIPs,
			fmt.Sprintf("failed to allocate IP %v: %v", s.ClusterIP, err)))
	}
	return nil
}

// allocNodePort claims the node port of ports[i]: the one asked for unless keep says
// the Service already holds it, or the next free one.
func (t *txn) allocNodePort(ctx context.Context, svc *corev1.Service, i int, keep map[int32]bool) error {
	p := &svc.Spec.Ports[i]
	if p.NodePort != 0 {
		if keep[p.NodePort] {
			return nil
		}
		if err := t.claimPort(ctx, int(p.NodePort)); err != nil {
			return invalid(svc, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort, err.Error()))
		}
		keep[p.NodePort] = true
		return nil
	}
	// The same port number over two protocols shares one node port, as upstream.
	if np, ok := t.portsByPort[p.Port]; ok {
		p.NodePort = np
		return nil
	}
	np, err := t.claimNextPort(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %v", err))
	}
	p.NodePort = int32(np)
	keep[p.NodePort] = true
	if t.portsByPort == nil {
		t.portsByPort = map[int32]int32{}
	}
	t.portsByPort[p.Port] = p.NodePort
	return nil
}

func (t *txn) allocHCNodePort(ctx context.Context, svc *corev1.Service, keep map[int32]bool) error {
	s := &svc.Spec
	if s.HealthCheckNodePort != 0 {
		if keep[s.HealthCheckNodePort] {
			return nil
		}
		if err := t.claimPort(ctx, int(s.HealthCheckNodePort)); err != nil {
			return invalid(svc, field.Invalid(field.NewPath("spec", "healthCheckNodePort"), s.HealthCheckNodePort,
				fmt.Sprintf("failed to allocate requested HealthCheck NodePort %v: %v", s.HealthCheckNodePort, err)))
		}
		return nil
	}
	np, err := t.claimNextPort(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("failed to allocate a HealthCheck NodePort %v: %v", np, err))
	}
	s.HealthCheckNodePort = int32(np)
	return nil
}

// beginCreate allocates what a new Service needs.
func (a *allocators) beginCreate(ctx context.Context, obj runtime.Object, options *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
	svc := obj.(*corev1.Service)
	t := &txn{a: a, owner: ownerOf(ctx, svc), dryRun: dryrun.IsDryRun(options.DryRun)}
	syncClusterIPs(svc)
	initIPFamilies(svc)
	if err := t.create(ctx, svc); err != nil {
		t.finish(ctx, false)
		if apierrors.IsInvalid(err) && a.exists != nil && a.exists(ctx, svc.Name) {
			return nil, apierrors.NewAlreadyExists(corev1.Resource("services"), svc.Name)
		}
		return nil, err
	}
	return t.finish, nil
}

func (t *txn) create(ctx context.Context, svc *corev1.Service) error {
	if needsClusterIP(svc) {
		if err := t.allocClusterIP(ctx, svc); err != nil {
			return err
		}
	}
	keep := map[int32]bool{}
	if needsNodePort(svc) {
		for i := range svc.Spec.Ports {
			if err := t.allocNodePort(ctx, svc, i, keep); err != nil {
				return err
			}
		}
	}
	if needsHCNodePort(svc) {
		return t.allocHCNodePort(ctx, svc, keep)
	}
	return nil
}

// beginUpdate allocates what a changed Service newly needs and, on success, releases
// what it no longer holds.
func (a *allocators) beginUpdate(ctx context.Context, obj, oldObj runtime.Object, options *metav1.UpdateOptions) (genericregistry.FinishFunc, error) {
	svc, old := obj.(*corev1.Service), oldObj.(*corev1.Service)
	// The status subresource shares these hooks (it is a copy of the store) but keeps
	// the stored spec, so it neither allocates nor releases anything.
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok && info.Subresource != "" {
		return func(context.Context, bool) {}, nil
	}
	t := &txn{a: a, owner: ownerOf(ctx, old), dryRun: dryrun.IsDryRun(options.DryRun)}
	patchAllocatedValues(svc, old)
	dropTypeDependentFields(svc, old)
	syncClusterIPs(svc)
	initIPFamilies(svc)
	if err := t.update(ctx, svc, old); err != nil {
		t.finish(ctx, false)
		return nil, err
	}
	return t.finish, nil
}

func (t *txn) update(ctx context.Context, svc, old *corev1.Service) error {
	switch {
	case needsClusterIP(old) && !needsClusterIP(svc):
		t.freeIPs = append(t.freeIPs, heldIPs(old)...)
	case !needsClusterIP(old) && needsClusterIP(svc):
		if err := t.allocClusterIP(ctx, svc); err != nil {
			return err
		}
	}
	// Node ports: keep those the Service holds and still uses, claim new ones, free
	// the rest once the update has been stored.
	held := map[int32]bool{}
	for _, p := range heldPorts(old) {
		held[int32(p)] = true
	}
	keep := map[int32]bool{}
	for k := range held {
		keep[k] = true
	}
	used := map[int32]bool{}
	if needsNodePort(svc) {
		for i := range svc.Spec.Ports {
			if err := t.allocNodePort(ctx, svc, i, keep); err != nil {
				return err
			}
			used[svc.Spec.Ports[i].NodePort] = true
		}
	}
	if needsHCNodePort(svc) {
		if err := t.allocHCNodePort(ctx, svc, keep); err != nil {
			return err
		}
		used[svc.Spec.HealthCheckNodePort] = true
	}
	for p := range held {
		if !used[p] {
			t.freePorts = append(t.freePorts, int(p))
		}
	}
	return nil
}

// afterDelete releases everything a deleted Service held.
func (a *allocators) afterDelete(obj runtime.Object, options *metav1.DeleteOptions) {
	if options != nil && dryrun.IsDryRun(options.DryRun) {
		return
	}
	svc := obj.(*corev1.Service)
	t := &txn{a: a, owner: allocator.Owner{Namespace: svc.Namespace, Name: svc.Name},
		freeIPs: heldIPs(svc)}
	for _, p := range heldPorts(svc) {
		t.freePorts = append(t.freePorts, p)
	}
	t.finish(context.Background(), true)
}

// heldIPs are the ClusterIPs a stored Service holds.
func heldIPs(svc *corev1.Service) []net.IP {
	if !needsClusterIP(svc) {
		return nil
	}
	var out []net.IP
	for _, s := range svc.Spec.ClusterIPs {
		if ip := net.ParseIP(s); ip != nil {
			out = append(out, ip)
		}
	}
	return out
}

// heldPorts are the node ports a stored Service holds, each once.
func heldPorts(svc *corev1.Service) []int {
	seen := map[int32]bool{}
	var out []int
	add := func(p int32) {
		if p != 0 && !seen[p] {
			seen[p] = true
			out = append(out, int(p))
		}
	}
	for _, p := range svc.Spec.Ports {
		add(p.NodePort)
	}
	add(svc.Spec.HealthCheckNodePort)
	return out
}
