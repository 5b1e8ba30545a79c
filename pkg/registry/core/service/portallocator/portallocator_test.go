package portallocator

import (
	"context"
	"errors"
	"testing"

	"github.com/skiff-k8s/skiff/pkg/registry/core/service/allocator"
)

func TestPorts(t *testing.T) {
	ctx := context.Background()
	a := New(30000, 2768, allocator.NewMemory())
	owner := allocator.Owner{Namespace: "default", Name: "web"}
	if err := a.Allocate(ctx, 30080, owner); err != nil {
		t.Fatal(err)
	}
	if err := a.Allocate(ctx, 30080, allocator.Owner{Name: "other"}); !errors.Is(err, ErrAllocated) || err.Error() != "provided port is already allocated" {
		t.Fatalf("got %v", err)
	}
	err := a.Allocate(ctx, 40000, owner)
	if err == nil || err.Error() != "provided port is not in the valid range. The range of valid ports is 30000-32767" {
		t.Fatalf("got %v", err)
	}
	p, err := a.AllocateNext(ctx, owner)
	if err != nil || p < 30000+86 || p > 32767 {
		t.Fatalf("AllocateNext = %d, %v", p, err)
	}
	if err := a.Release(ctx, 30080, owner); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckFree(ctx, 30080); err != nil {
		t.Fatalf("30080 not free after release: %v", err)
	}
}
