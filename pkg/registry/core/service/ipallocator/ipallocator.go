// Package ipallocator allocates Service ClusterIPs from the service CIDR. Each
// allocated IP is a networking.k8s.io/v1 IPAddress object named after the IP, with a
// parentRef to its Service, created atomically in storage (see package allocator for
// why this never hands out a duplicate, across concurrent creates and restarts).
//
//	a := ipallocator.New(cidr, ipallocator.NewStorage(store, "/ipaddresses", cidr))
//	ip, err := a.AllocateNext(ctx, allocator.Owner{Namespace: "default", Name: "web"})
package ipallocator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apiserver/pkg/storage"

	"github.com/skiff-k8s/skiff/pkg/registry/core/service/allocator"
)

// Errors with upstream's wording.
var (
	ErrFull      = errors.New("range is full")
	ErrAllocated = errors.New("provided IP is already allocated")
)

// ErrNotInRange is returned for an IP outside the service CIDR.
type ErrNotInRange struct {
	IP         net.IP
	ValidRange string
}

func (e *ErrNotInRange) Error() string {
	return fmt.Sprintf("the provided IP (%v) is not in the valid range. The range of valid IPs is %s", e.IP, e.ValidRange)
}

// Labels upstream's allocator puts on the IPAddresses it creates.
const (
	LabelIPFamily  = "ipaddress.kubernetes.io/ip-family"
	LabelManagedBy = "ipaddress.kubernetes.io/managed-by"
	ManagedBy      = "ipallocator.k8s.io"
)

// Allocator hands out the IPv4 addresses of one CIDR, but its network and broadcast
// addresses.
type Allocator struct {
	cidr *net.IPNet
	base uint32 // the network address
	a    *allocator.Allocator
}

// Size returns the number of usable addresses of an IPv4 CIDR.
func Size(cidr *net.IPNet) int {
	ones, bits := cidr.Mask.Size()
	n := 1 << (bits - ones)
	if n <= 2 {
		return 0
	}
	return n - 2
}

// New returns an allocator for cidr whose claims live in b.
func New(cidr *net.IPNet, b allocator.Backend) *Allocator {
	size := Size(cidr)
	return &Allocator{
		cidr: cidr,
		base: binary.BigEndian.Uint32(cidr.IP.To4()),
		a:    allocator.New(b, allocator.Range{Size: size, StaticBand: allocator.StaticBand(size, 16, 16, 256)}),
	}
}

// CIDR returns the range as a string.
func (a *Allocator) CIDR() string { return a.cidr.String() }

func (a *Allocator) ip(offset int) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, a.base+1+uint32(offset))
	return ip
}

func (a *Allocator) offset(ip net.IP) (int, bool) {
	v4 := ip.To4()
	if v4 == nil || !a.cidr.Contains(v4) {
		return 0, false
	}
	off := int(binary.BigEndian.Uint32(v4)-a.base) - 1
	if off < 0 || off >= a.a.Size() {
		return 0, false
	}
	return off, true
}

// Contains reports whether ip is allocatable from this range.
func (a *Allocator) Contains(ip net.IP) bool {
	_, ok := a.offset(ip)
	return ok
}

// Allocate claims ip for owner.
func (a *Allocator) Allocate(ctx context.Context, ip net.IP, owner allocator.Owner) error {
	off, ok := a.offset(ip)
	if !ok {
		return &ErrNotInRange{IP: ip, ValidRange: a.cidr.String()}
	}
	err := a.a.Allocate(ctx, off, owner)
	if errors.Is(err, allocator.ErrExists) {
		return ErrAllocated
	}
	return err
}

// CheckFree does what Allocate checks without claiming anything (dry runs).
func (a *Allocator) CheckFree(ctx context.Context, ip net.IP) error {
	off, ok := a.offset(ip)
	if !ok {
		return &ErrNotInRange{IP: ip, ValidRange: a.cidr.String()}
	}
	free, err := a.a.Free(ctx, off)
	if err != nil {
		return err
	}
	if !free {
		return ErrAllocated
	}
	return nil
}

// AllocateNext claims a free IP for owner.
func (a *Allocator) AllocateNext(ctx context.Context, owner allocator.Owner) (net.IP, error) {
	off, err := a.a.AllocateNext(ctx, owner)
	if errors.Is(err, allocator.ErrFull) {
		return nil, ErrFull
	}
	if err != nil {
		return nil, err
	}
	return a.ip(off), nil
}

// PeekNext returns an IP that is free now, claiming nothing (dry runs).
func (a *Allocator) PeekNext(ctx context.Context) (net.IP, error) {
	off, err := a.a.PeekNext(ctx)
	if errors.Is(err, allocator.ErrFull) {
		return nil, ErrFull
	}
	if err != nil {
		return nil, err
	}
	return a.ip(off), nil
}

// Release frees ip if owner holds it; IPs outside the range are ignored.
func (a *Allocator) Release(ctx context.Context, ip net.IP, owner allocator.Owner) error {
	off, ok := a.offset(ip)
	if !ok {
		return nil
	}
	return a.a.Release(ctx, off, owner)
}

// NewStorage returns the backend that keeps each claim of cidr as an IPAddress under
// prefix (the IPAddress store's key prefix, e.g. "/ipaddresses").
func NewStorage(store storage.Interface, prefix string, cidr *net.IPNet) *allocator.Storage {
	a := New(cidr, nil)
	return &allocator.Storage{
		Store:  store,
		Prefix: prefix,
		Name:   func(off int) string { return a.ip(off).String() },
		Offset: func(name string) (int, bool) {
			ip := net.ParseIP(name)
			if ip == nil {
				return 0, false
			}
			return a.offset(ip)
		},
		NewClaim: func(name string, owner allocator.Owner) runtime.Object {
			return &networkingv1.IPAddress{
				ObjectMeta: metav1.ObjectMeta{
					Name: name, UID: uuid.NewUUID(), CreationTimestamp: metav1.Now(),
					Labels: map[string]string{LabelIPFamily: "IPv4", LabelManagedBy: ManagedBy},
				},
				Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{
					Resource: "services", Namespace: owner.Namespace, Name: owner.Name,
				}},
			}
		},
		OwnerOf: func(obj runtime.Object) allocator.Owner {
			ip := obj.(*networkingv1.IPAddress)
			if p := ip.Spec.ParentRef; p != nil && p.Group == "" && p.Resource == "services" {
				return allocator.Owner{Namespace: p.Namespace, Name: p.Name}
			}
			return allocator.Owner{Namespace: "<other>", Name: ip.Name}
		},
		Managed: func(obj runtime.Object) bool {
			return obj.(*networkingv1.IPAddress).Labels[LabelManagedBy] == ManagedBy
		},
		New:     func() runtime.Object { return &networkingv1.IPAddress{} },
		NewList: func() runtime.Object { return &networkingv1.IPAddressList{} },
	}
}
