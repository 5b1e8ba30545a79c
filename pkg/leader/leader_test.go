package leader

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
)

// Two candidates share a lease: one leads at a time, and when the leader stops
// (releasing the lease) the other takes over.
func TestOneLeaderAtATime(t *testing.T) {
	client := fake.NewClientset()
	var leading atomic.Int32
	var overlap atomic.Bool
	started := make(chan string, 4)
	run := func(ctx context.Context, id string, wg *sync.WaitGroup) {
		defer wg.Done()
		_ = Run(ctx, client, "test-lease", id, func(ctx context.Context) {
			if leading.Add(1) > 1 {
				overlap.Store(true)
			}
			started <- id
			<-ctx.Done()
			leading.Add(-1)
		})
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	var wg sync.WaitGroup
	wg.Add(2)
	go run(ctxA, "a", &wg)
	first := waitFor(t, started)
	go run(ctxB, "b", &wg)
	select {
	case id := <-started:
		t.Fatalf("%s leads while %s holds the lease", id, first)
	case <-time.After(3 * time.Second):
	}
	if first != "a" {
		t.Fatalf("first leader %s, want a", first)
	}
	stopA()
	if second := waitFor(t, started); second != "b" {
		t.Fatalf("second leader %s, want b", second)
	}
	stopB()
	wg.Wait()
	if overlap.Load() {
		t.Fatal("two leaders at once")
	}
}

func waitFor(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case id := <-ch:
		return id
	case <-time.After(2 * LeaseDuration):
		t.Fatal("no leader")
		return ""
	}
}
