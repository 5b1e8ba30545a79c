package sim

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/pkg/kubelet/nodestatus"
)

type leaseState struct {
	lease *coordinationv1.Lease
	owner metav1.OwnerReference
}

// register creates (or refreshes) every node and its Lease, a few at a time,
// retrying until the apiserver answers.
func (s *Sim) register(ctx context.Context) error {
	return s.eachNode(ctx, 16, func(ctx context.Context, n *node) error {
		return wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			if err := s.registerNode(ctx, n); err != nil {
				klog.FromContext(ctx).V(2).Info("Registering node, will retry", "node", n.name, "err", err)
				return false, nil
			}
			return true, nil
		})
	})
}

func (s *Sim) registerNode(ctx context.Context, n *node) error {
	want := s.nodeObject(n)
	nodes := s.client.CoreV1().Nodes()
	got, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		if got, err = nodes.Get(ctx, n.name, metav1.GetOptions{}); err != nil {
			return err
		}
		for k, v := range want.Labels {
			if got.Labels == nil {
				got.Labels = map[string]string{}
			}
			got.Labels[k] = v
		}
		if got, err = nodes.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			return err
		}
		got.Status = want.Status
		got, err = nodes.UpdateStatus(ctx, got, metav1.UpdateOptions{})
	}
	if err != nil {
		return err
	}
	n.lease = &leaseState{owner: metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: got.Name, UID: got.UID}}
	return s.renew(ctx, n)
}

// renew writes the node's Lease with renewTime now, creating it when missing.
func (s *Sim) renew(ctx context.Context, n *node) error {
	leases := s.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	if n.lease.lease == nil {
		l, err := leases.Get(ctx, n.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: corev1.NamespaceNodeLease, OwnerReferences: []metav1.OwnerReference{n.lease.owner}},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(n.name), LeaseDurationSeconds: ptr.To(int32(leaseDuration / time.Second)), RenewTime: &now},
			}, metav1.CreateOptions{})
			if err == nil {
				n.lease.lease = l
				return nil
			}
		}
		if err != nil {
			return err
		}
		n.lease.lease = l
	}
	l := n.lease.lease.DeepCopy()
	l.Spec.RenewTime = &now
	l.Spec.HolderIdentity = ptr.To(n.name)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDuration / time.Second))
	updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
	if err != nil {
		n.lease.lease = nil // read it again next time (conflict, or deleted)
		return err
	}
	n.lease.lease = updated
	return nil
}

// heartbeat renews every node's Lease each renewInterval, a tenth of the nodes each
// second so that the writes are spread out, and refreshes the nodes' Ready
// condition each statusPeriod.
func (s *Sim) heartbeat(ctx context.Context) {
	names := make([]string, 0, len(s.nodes))
	for name := range s.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	const slots = int(renewInterval / time.Second)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastStatus := time.Now()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var batch []*node
		for j := i % slots; j < len(names); j += slots {
			batch = append(batch, s.nodes[names[j]])
		}
		_ = s.runEach(ctx, 8, batch, func(ctx context.Context, n *node) error {
			if err := s.renew(ctx, n); err != nil && ctx.Err() == nil {
				klog.FromContext(ctx).V(2).Info("Lease renewal failed", "node", n.name, "err", err)
			}
			return nil
		})
		if time.Since(lastStatus) >= statusPeriod {
			lastStatus = time.Now()
			_ = s.eachNode(ctx, 8, s.refreshStatus)
		}
	}
}

// refreshStatus re-posts the node's conditions with a new heartbeat time, as the
// kubelet does at least every nodeStatusReportFrequency.
func (s *Sim) refreshStatus(ctx context.Context, n *node) error {
	nodes := s.client.CoreV1().Nodes()
	got, err := nodes.Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	got.Status.Conditions = nodestatus.Conditions(nodestatus.Ready, got.Status.Conditions, metav1.Now())
	_, _ = nodes.UpdateStatus(ctx, got, metav1.UpdateOptions{})
	return nil
}

func (s *Sim) eachNode(ctx context.Context, workers int, fn func(ctx context.Context, n *node) error) error {
	all := make([]*node, 0, len(s.nodes))
	for _, n := range s.nodes {
		all = append(all, n)
	}
	return s.runEach(ctx, workers, all, fn)
}

// runEach calls fn for each node with at most workers at once and returns the
// first error.
func (s *Sim) runEach(ctx context.Context, workers int, nodes []*node, fn func(ctx context.Context, n *node) error) error {
	ch := make(chan *node)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range ch {
				if err := fn(ctx, n); err != nil {
					once.Do(func() { first = fmt.Errorf("node %s: %w", n.name, err) })
				}
			}
		}()
	}
	for _, n := range nodes {
		select {
		case ch <- n:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
