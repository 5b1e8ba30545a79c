package nodelifecycle

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/cache"
	nodeutil "k8s.io/component-helpers/node/util"
	"k8s.io/klog/v2"
)

// syncPod marks a pod not ready when it is bound to a node the controller has
// seen not Ready (pods bound after the node's transition).
func (nc *Controller) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := nc.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	h := nc.healthOf(pod.Spec.NodeName)
	if h == nil {
		return nil // not seen yet, or deleted: the next health pass handles it
	}
	if _, err := nc.nodes.Get(pod.Spec.NodeName); err != nil {
		return err
	}
	_, ready := nodeutil.GetNodeCondition(h.status, corev1.NodeReady)
	if ready == nil || ready.Status == corev1.ConditionTrue {
		return nil
	}
	return nc.markPodsNotReady(ctx, []*corev1.Pod{pod}, pod.Spec.NodeName)
}

// markPodsNotReady sets the Ready condition of the pods on nodeName to False and
// records NodeNotReady on each, as upstream's MarkPodsNotReady.
func (nc *Controller) markPodsNotReady(ctx context.Context, pods []*corev1.Pod, nodeName string) error {
	var errs []error
	for _, p := range pods {
		if p.Spec.NodeName != nodeName {
			continue
		}
		pod := p.DeepCopy()
		changed := false
		for i := range pod.Status.Conditions {
			c := &pod.Status.Conditions[i]
			if c.Type == corev1.PodReady && c.Status != corev1.ConditionFalse {
				c.Status = corev1.ConditionFalse
				c.LastTransitionTime = metav1.Now()
				changed = true
			}
		}
		if !changed {
			continue
		}
		klog.FromContext(ctx).V(2).Info("Updating ready status of pod to false", "pod", klog.KObj(pod))
		if _, err := nc.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, err)
			continue
		}
		nc.recorder.Event(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return utilerrors.NewAggregate(errs)
}
