package service

import (
	"context"
	"errors"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/registry/core/service/allocator"
)

// repair reconciles the stored claims with the Services, as upstream's repair
// controllers do. A claim that no Service holds (left by a crash between claiming and
// writing the Service) is released once older than grace, which no create or update
// in flight takes (claims users made are left alone); a ClusterIP or NodePort a Service holds without a claim (a claim
// deleted through the API) is claimed again.
type repair struct {
	ips, ports *allocator.Storage
	services   func(ctx context.Context) ([]corev1.Service, error)
	grace      time.Duration
}

// run repairs after a short delay at start, then every interval, until ctx is done.
func (r *repair) run(ctx context.Context, interval time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(10 * time.Second):
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := r.once(ctx); err != nil {
			klog.ErrorS(err, "repair service allocations")
		}
	}, interval)
}

func (r *repair) once(ctx context.Context) error {
	svcs, err := r.services(ctx)
	if err != nil {
		return err
	}
	ips, ports := map[string]allocator.Owner{}, map[string]allocator.Owner{}
	for i := range svcs {
		s := &svcs[i]
		owner := allocator.Owner{Namespace: s.Namespace, Name: s.Name}
		for _, ip := range heldIPs(s) {
			ips[ip.String()] = owner
		}
		for _, p := range heldPorts(s) {
			ports[itoa(p)] = owner
		}
	}
	return errors.Join(r.reconcile(ctx, r.ips, ips), r.reconcile(ctx, r.ports, ports))
}

func (r *repair) reconcile(ctx context.Context, st *allocator.Storage, held map[string]allocator.Owner) error {
	claims, err := st.Claims(ctx)
	if err != nil {
		return err
	}
	claimed := map[string]bool{}
	var errs []error
	for _, c := range claims {
		name := st.Name(c.Offset)
		claimed[name] = true
		owner, ok := held[name]
		switch {
		case ok && owner != c.Owner:
			klog.InfoS("allocation claimed by another owner than the Service that holds it", "value", name, "claim", c.Owner, "service", owner)
		case !ok && c.Managed && time.Since(c.Created) > r.grace:
			klog.InfoS("releasing leaked allocation", "value", name, "owner", c.Owner)
			errs = append(errs, st.Release(ctx, c.Offset, c.Owner))
		}
	}
	for name, owner := range held {
		if claimed[name] {
			continue
		}
		off, ok := st.Offset(name)
		if !ok {
			continue // outside the range (the range changed); nothing to claim
		}
		klog.InfoS("claiming allocation held without a claim", "value", name, "owner", owner)
		if err := st.Claim(ctx, off, owner); err != nil && !errors.Is(err, allocator.ErrExists) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func itoa(p int) string { return strconv.Itoa(p) }
