// Package portallocator allocates Service NodePorts from the node port range. Each
// allocated port is a core/v1 RangeAllocation object named after the port, created
// atomically in storage under /ranges/servicenodeports/<port> with its Service in
// data (see package allocator for why this never hands out a duplicate, across
// concurrent creates and restarts).
//
//	a := portallocator.New(30000, 2768, portallocator.NewStorage(store, 30000, 2768))
//	port, err := a.AllocateNext(ctx, allocator.Owner{Namespace: "default", Name: "web"})
package portallocator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apiserver/pkg/storage"

	"github.com/skiff-k8s/skiff/pkg/registry/core/service/allocator"
)

// Prefix is the storage key prefix of NodePort claims.
const Prefix = "/ranges/servicenodeports"

// Errors with upstream's wording.
var (
	ErrFull      = errors.New("range is full")
	ErrAllocated = errors.New("provided port is already allocated")
)

// ErrNotInRange is returned for a port outside the range.
type ErrNotInRange struct{ ValidPorts string }

func (e *ErrNotInRange) Error() string {
	return "provided port is not in the valid range. The range of valid ports is " + e.ValidPorts
}

// Allocator hands out ports Base to Base+Size-1.
type Allocator struct {
	base, size int
	a          *allocator.Allocator
}

// New returns an allocator for the given range whose claims live in b.
func New(base, size int, b allocator.Backend) *Allocator {
	return &Allocator{base: base, size: size,
		a: allocator.New(b, allocator.Range{Size: size, StaticBand: allocator.StaticBand(size, 32, 16, 128)})}
}

// Range is the range as upstream prints it: "30000-32767".
func (a *Allocator) Range() string { return fmt.Sprintf("%d-%d", a.base, a.base+a.size-1) }

func (a *Allocator) offset(port int) (int, bool) {
	off := port - a.base
	return off, off >= 0 && off < a.size
}

// Allocate claims port for owner.
func (a *Allocator) Allocate(ctx context.Context, port int, owner allocator.Owner) error {
	off, ok := a.offset(port)
	if !ok {
		return &ErrNotInRange{ValidPorts: a.Range()}
	}
	err := a.a.Allocate(ctx, off, owner)
	if errors.Is(err, allocator.ErrExists) {
		return ErrAllocated
	}
	return err
}

// CheckFree does what Allocate checks without claiming anything (dry runs).
func (a *Allocator) CheckFree(ctx context.Context, port int) error {
	off, ok := a.offset(port)
	if !ok {
		return &ErrNotInRange{ValidPorts: a.Range()}
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

// AllocateNext claims a free port for owner.
func (a *Allocator) AllocateNext(ctx context.Context, owner allocator.Owner) (int, error) {
	off, err := a.a.AllocateNext(ctx, owner)
	if errors.Is(err, allocator.ErrFull) {
		return 0, ErrFull
	}
	if err != nil {
		return 0, err
	}
	return a.base + off, nil
}

// PeekNext returns a port that is free now, claiming nothing (dry runs).
func (a *Allocator) PeekNext(ctx context.Context) (int, error) {
	off, err := a.a.PeekNext(ctx)
	if errors.Is(err, allocator.ErrFull) {
		return 0, ErrFull
	}
	if err != nil {
		return 0, err
	}
	return a.base + off, nil
}

// Release frees port if owner holds it; ports outside the range are ignored.
func (a *Allocator) Release(ctx context.Context, port int, owner allocator.Owner) error {
	off, ok := a.offset(port)
	if !ok {
		return nil
	}
	return a.a.Release(ctx, off, owner)
}

// NewStorage returns the backend that keeps each claim as a RangeAllocation under
// Prefix, named after the port, with "namespace/name" of its Service as data.
func NewStorage(store storage.Interface, base, size int) *allocator.Storage {
	rng := fmt.Sprintf("%d-%d", base, base+size-1)
	return &allocator.Storage{
		Store:  store,
		Prefix: Prefix,
		Name:   func(off int) string { return strconv.Itoa(base + off) },
		Offset: func(name string) (int, bool) {
			p, err := strconv.Atoi(name)
			off := p - base
			return off, err == nil && off >= 0 && off < size
		},
		NewClaim: func(name string, owner allocator.Owner) runtime.Object {
			return &corev1.RangeAllocation{
				ObjectMeta: metav1.ObjectMeta{Name: name, UID: uuid.NewUUID(), CreationTimestamp: metav1.Now()},
				Range:      rng,
				Data:       []byte(owner.String()),
			}
		},
		OwnerOf: func(obj runtime.Object) allocator.Owner {
			ns, name, _ := strings.Cut(string(obj.(*corev1.RangeAllocation).Data), "/")
			return allocator.Owner{Namespace: ns, Name: name}
		},
		New:     func() runtime.Object { return &corev1.RangeAllocation{} },
		NewList: func() runtime.Object { return &rangeAllocationList{} },
	}
}

// rangeAllocationList lets storage list RangeAllocations; k8s.io/api has no list type
// for them because they are never served.
type rangeAllocationList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []corev1.RangeAllocation
}

func (l *rangeAllocationList) DeepCopyObject() runtime.Object {
	out := &rangeAllocationList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	for i := range l.Items {
		out.Items = append(out.Items, *l.Items[i].DeepCopy())
	}
	return out
}
