// Package leader runs a control-plane component under leader election through a
// coordination.k8s.io Lease, as upstream's scheduler and controller manager do, so
// that several servers can share one cluster with one active copy of each.
package leader

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Upstream's defaults for --leader-elect-lease-duration, -renew-deadline and -retry-period.
const (
	LeaseDuration = 15 * time.Second
	RenewDeadline = 10 * time.Second
	RetryPeriod   = 2 * time.Second
)

// Identity is this process's name in leases: the host name, which stays the same
// across restarts so that a restarted server takes its own lease back at once
// instead of waiting for it to expire.
func Identity() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "skiff"
	}
	return h
}

// waitReady polls the apiserver's /readyz until it answers ok: a first campaign
// against an apiserver still bootstrapping its RBAC policy fails and would wait a whole
// retry period (2 s) before the next.
func waitReady(ctx context.Context, client kubernetes.Interface) {
	rc := client.Discovery().RESTClient()
	if rc == nil { // a fake client: no apiserver to wait for
		return
	}
	_ = wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		body, err := rc.Get().AbsPath("/readyz").Do(ctx).Raw()
		return err == nil && string(body) == "ok", nil
	})
}

// Run campaigns for the Lease kube-system/name and runs lead while it holds it. When
// the lease is lost, lead's context is cancelled; Run waits for lead to return and
// campaigns again. Run returns when ctx is done and lead has returned.
func Run(ctx context.Context, client kubernetes.Interface, name, identity string, lead func(ctx context.Context)) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	logger := klog.FromContext(ctx).WithValues("lease", name)
	waitReady(ctx, client)
	for ctx.Err() == nil {
		done := make(chan struct{})
		var started atomic.Bool
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   LeaseDuration,
			RenewDeadline:   RenewDeadline,
			RetryPeriod:     RetryPeriod,
			ReleaseOnCancel: true,
			Name:            name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					started.Store(true)
					defer close(done)
					logger.Info("Became leader")
					lead(ctx)
				},
				OnStoppedLeading: func() { logger.Info("Stopped leading") },
			},
		})
		if err != nil {
			return fmt.Errorf("leader election %s: %w", name, err)
		}
		le.Run(ctx)
		// Run returns once leading stopped; OnStartedLeading runs in its own goroutine,
		// so wait for lead to finish before campaigning again.
		if started.Load() {
			<-done
		}
	}
	return nil
}
