package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// owned is one ReplicaSet or ReplicationController as the controller sees it: rs is
// the apps/v1 ReplicaSet view (the cached object itself for a ReplicaSet, a
// conversion for a ReplicationController; never mutated), obj the original object,
// which events are recorded on.
type owned struct {
	rs  *appsv1.ReplicaSet
	obj controllers.OwnerObject
}

// kind is what differs between ReplicaSets and ReplicationControllers: how one is
// read from the cache, read live and written. Everything else is the same code, as
// upstream runs its ReplicationManager as a ReplicaSetController over a conversion.
type kind struct {
	gvk      schema.GroupVersionKind
	name     string // queue name
	source   string // event source, as upstream names it
	informer cache.SharedIndexInformer
	// terminating: the kind reports status.terminatingReplicas (ReplicaSets do).
	terminating bool
	// toOwned converts an informer object (never a tombstone).
	toOwned func(obj interface{}) (*owned, bool)
	get     func(namespace, name string) (*owned, error)
	list    func(namespace string) ([]*owned, error)
	// fetch reads the object from the API (adoption re-checks it is not being deleted).
	fetch        func(ctx context.Context, namespace, name string) (metav1.Object, error)
	updateStatus func(ctx context.Context, o *owned, status appsv1.ReplicaSetStatus) (*owned, error)
}

func replicaSetKind(c *controllers.Context) *kind {
	inf := c.Informers.Apps().V1().ReplicaSets()
	lister := inf.Lister()
	client := c.Client
	wrap := func(rs *appsv1.ReplicaSet) *owned { return &owned{rs: rs, obj: rs} }
	return &kind{
		gvk:         appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
		name:        "replicaset",
		source:      "replicaset-controller",
		informer:    inf.Informer(),
		terminating: true,
		toOwned: func(obj interface{}) (*owned, bool) {
			rs, ok := obj.(*appsv1.ReplicaSet)
			if !ok {
				return nil, false
			}
			return wrap(rs), true
		},
		get: func(ns, name string) (*owned, error) {
			rs, err := lister.ReplicaSets(ns).Get(name)
			if err != nil {
				return nil, err
			}
			return wrap(rs), nil
		},
		list: func(ns string) ([]*owned, error) {
			rss, err := lister.ReplicaSets(ns).List(labels.Everything())
			out := make([]*owned, 0, len(rss))
			for _, rs := range rss {
				out = append(out, wrap(rs))
			}
			return out, err
		},
		fetch: func(ctx context.Context, ns, name string) (metav1.Object, error) {
			return client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		updateStatus: func(ctx context.Context, o *owned, status appsv1.ReplicaSetStatus) (*owned, error) {
			rs := o.rs.DeepCopy()
			rs.Status = status
			rs, err := client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			return wrap(rs), nil
		},
	}
}

func replicationControllerKind(c *controllers.Context) *kind {
	inf := c.Informers.Core().V1().ReplicationControllers()
	lister := inf.Lister()
	client := c.Client
	wrap := func(rc *corev1.ReplicationController) *owned { return &owned{rs: rcToRS(rc), obj: rc} }
	return &kind{
		gvk:      corev1.SchemeGroupVersion.WithKind("ReplicationController"),
		name:     "replicationmanager",
		source:   "replication-controller",
		informer: inf.Informer(),
		toOwned: func(obj interface{}) (*owned, bool) {
			rc, ok := obj.(*corev1.ReplicationController)
			if !ok {
				return nil, false
			}
			return wrap(rc), true
		},
		get: func(ns, name string) (*owned, error) {
			rc, err := lister.ReplicationControllers(ns).Get(name)
			if err != nil {
				return nil, err
			}
			return wrap(rc), nil
		},
		list: func(ns string) ([]*owned, error) {
			rcs, err := lister.ReplicationControllers(ns).List(labels.Everything())
			out := make([]*owned, 0, len(rcs))
			for _, rc := range rcs {
				out = append(out, wrap(rc))
			}
			return out, err
		},
		fetch: func(ctx context.Context, ns, name string) (metav1.Object, error) {
			return client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
		},
		updateStatus: func(ctx context.Context, o *owned, status appsv1.ReplicaSetStatus) (*owned, error) {
			rc := o.obj.(*corev1.ReplicationController).DeepCopy()
			rc.Status = rsStatusToRC(status)
			rc, err := client.CoreV1().ReplicationControllers(rc.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			return wrap(rc), nil
		},
	}
}

// rcToRS is the ReplicaSet view of a ReplicationController: its map selector becomes
// matchLabels, its conditions keep their type names (both are "ReplicaFailure").
func rcToRS(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: rc.ObjectMeta}
	rs.Spec.Replicas = rc.Spec.Replicas
	rs.Spec.MinReadySeconds = rc.Spec.MinReadySeconds
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: rc.Spec.Selector}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template
	}
	s := rc.Status
	rs.Status = appsv1.ReplicaSetStatus{Replicas: s.Replicas, FullyLabeledReplicas: s.FullyLabeledReplicas,
		ReadyReplicas: s.ReadyReplicas, AvailableReplicas: s.AvailableReplicas, ObservedGeneration: s.ObservedGeneration}
	for _, c := range s.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message})
	}
	return rs
}

// rsStatusToRC converts back; a ReplicationController has no terminatingReplicas.
func rsStatusToRC(s appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	out := corev1.ReplicationControllerStatus{Replicas: s.Replicas, FullyLabeledReplicas: s.FullyLabeledReplicas,
		ReadyReplicas: s.ReadyReplicas, AvailableReplicas: s.AvailableReplicas, ObservedGeneration: s.ObservedGeneration}
	for _, c := range s.Conditions {
		out.Conditions = append(out.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message})
	}
	return out
}
