package ipallocator

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/skiff-k8s/skiff/pkg/registry/core/service/allocator"
)

func cidr(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestAllocateSpecificAndErrors(t *testing.T) {
	ctx := context.Background()
	a := New(cidr("10.43.0.0/16"), allocator.NewMemory())
	owner := allocator.Owner{Namespace: "default", Name: "kubernetes"}
	if err := a.Allocate(ctx, net.ParseIP("10.43.0.1"), owner); err != nil {
		t.Fatal(err)
	}
	if err := a.Allocate(ctx, net.ParseIP("10.43.0.1"), allocator.Owner{Name: "x"}); !errors.Is(err, ErrAllocated) {
		t.Fatalf("got %v, want ErrAllocated", err)
	}
	for _, ip := range []string{"10.0.0.5", "10.43.0.0", "10.43.255.255"} {
		err := a.Allocate(ctx, net.ParseIP(ip), owner)
		var nir *ErrNotInRange
		if !errors.As(err, &nir) {
			t.Fatalf("%s: got %v, want ErrNotInRange", ip, err)
		}
		want := "the provided IP (" + ip + ") is not in the valid range. The range of valid IPs is 10.43.0.0/16"
		if err.Error() != want {
			t.Fatalf("message %q, want %q", err.Error(), want)
		}
	}
	if err := a.CheckFree(ctx, net.ParseIP("10.43.0.1")); !errors.Is(err, ErrAllocated) {
		t.Fatalf("CheckFree of a held IP: %v", err)
	}
}

func TestSmallRangeFillsWithoutDuplicates(t *testing.T) {
	ctx := context.Background()
	a := New(cidr("192.168.1.0/27"), allocator.NewMemory()) // 30 usable
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	var full int
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip, err := a.AllocateNext(ctx, allocator.Owner{Name: "s"})
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrFull) {
				full++
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			if seen[ip.String()] {
				t.Errorf("%s handed out twice", ip)
			}
			if ip.String() == "192.168.1.0" || ip.String() == "192.168.1.31" {
				t.Errorf("network or broadcast address %s handed out", ip)
			}
			seen[ip.String()] = true
		}()
	}
	wg.Wait()
	if len(seen) != 30 || full != 10 {
		t.Fatalf("allocated %d (want 30), %d full (want 10)", len(seen), full)
	}
}
