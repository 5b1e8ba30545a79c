package kubelet

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Upstream's node lease: 40 s duration, renewed every quarter of it.
const (
	leaseDurationSeconds = 40
	leaseRenewInterval   = 10 * time.Second
)

// leaseLoop keeps the node's Lease in kube-node-lease renewed.
func (k *Kubelet) leaseLoop(ctx context.Context, node *corev1.Node) {
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
	var lease *coordinationv1.Lease
	for {
		var err error
		lease, err = k.renewLease(ctx, lease, owner)
		if err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).V(2).Info("Lease renewal failed", "err", err)
		}
		delay := leaseRenewInterval
		if err != nil {
			delay = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func (k *Kubelet) renewLease(ctx context.Context, lease *coordinationv1.Lease, owner metav1.OwnerReference) (*coordinationv1.Lease, error) {
	leases := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	if lease == nil {
		got, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: corev1.NamespaceNodeLease, OwnerReferences: []metav1.OwnerReference{owner}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(k.cfg.NodeName),
					LeaseDurationSeconds: ptr.To(int32(leaseDurationSeconds)), RenewTime: &now},
			}, metav1.CreateOptions{})
		}
		if err != nil {
			return nil, err
		}
		lease = got
	}
	l := lease.DeepCopy()
	l.Spec.RenewTime = &now
	l.Spec.HolderIdentity = ptr.To(k.cfg.NodeName)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDurationSeconds))
	if len(l.OwnerReferences) == 0 {
		l.OwnerReferences = []metav1.OwnerReference{owner}
	}
	updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
	if err != nil {
		return nil, err // read it again next time (conflict, or deleted)
	}
	return updated, nil
}
