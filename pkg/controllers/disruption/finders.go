package disruption

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// controllerScale finds the controller ref names and its desired scale: a
// ReplicaSet's (or its Deployment's, when one controls it), a
// ReplicationController's, a StatefulSet's, or any other resource's scale
// subresource. found is false when no such controller exists.
func (dc *Controller) controllerScale(ctx context.Context, ref *metav1.OwnerReference, ns string) (uid types.UID, scale int32, found bool, err error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "", 0, false, err
	}
	switch {
	case gv.Group == "apps" && ref.Kind == "ReplicaSet":
		rs, err := dc.rss.ReplicaSets(ns).Get(ref.Name)
		if apierrors.IsNotFound(err) || (err == nil && rs.UID != ref.UID) {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		if owner := metav1.GetControllerOf(rs); owner != nil && owner.Kind == "Deployment" {
			d, err := dc.deployments.Deployments(ns).Get(owner.Name)
			if apierrors.IsNotFound(err) || (err == nil && d.UID != owner.UID) {
				return "", 0, false, nil
			}
			if err != nil {
				return "", 0, false, err
			}
			return d.UID, replicas(d.Spec.Replicas), true, nil
		}
		return rs.UID, replicas(rs.Spec.Replicas), true, nil
	case gv.Group == "" && ref.Kind == "ReplicationController":
		rc, err := dc.rcs.ReplicationControllers(ns).Get(ref.Name)
		if apierrors.IsNotFound(err) || (err == nil && rc.UID != ref.UID) {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		return rc.UID, replicas(rc.Spec.Replicas), true, nil
	case gv.Group == "apps" && ref.Kind == "StatefulSet":
		ss, err := dc.sets.StatefulSets(ns).Get(ref.Name)
		if apierrors.IsNotFound(err) || (err == nil && ss.UID != ref.UID) {
			return "", 0, false, nil
		}
		if err != nil {
			return "", 0, false, err
		}
		return ss.UID, replicas(ss.Spec.Replicas), true, nil
	}
	return dc.scaleSubresource(ctx, gv.WithKind(ref.Kind), ref, ns)
}

// scaleSubresource reads the controller's /scale, as upstream does for custom
// controllers; the scale must belong to the referenced object (same uid).
func (dc *Controller) scaleSubresource(ctx context.Context, gvk schema.GroupVersionKind, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	m, err := dc.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return "", 0, false, err
	}
	s, err := dc.c.Dynamic.Resource(m.Resource).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{}, "scale")
	if apierrors.IsNotFound(err) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, err
	}
	if s.GetUID() != ref.UID {
		return "", 0, false, nil
	}
	n, _, err := unstructured.NestedInt64(s.Object, "spec", "replicas")
	if err != nil {
		return "", 0, false, err
	}
	return s.GetUID(), int32(n), true, nil
}
