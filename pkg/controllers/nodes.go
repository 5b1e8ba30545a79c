package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// PodNodeNameIndex is the pod informer index by spec.nodeName (upstream's name).
const PodNodeNameIndex = "spec.nodeName"

// AddPodNodeNameIndex adds PodNodeNameIndex to a shared pod informer unless another
// controller already did: several controllers of the manager share one informer
// and a second AddIndexers with the same name would fail.
func AddPodNodeNameIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[PodNodeNameIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{PodNodeNameIndex: func(obj interface{}) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{pod.Spec.NodeName}, nil
	}})
}

// PodsOnNode lists the pods bound to nodeName from an informer indexed with
// AddPodNodeNameIndex.
func PodsOnNode(inf cache.SharedIndexInformer, nodeName string) ([]*corev1.Pod, error) {
	objs, err := inf.GetIndexer().ByIndex(PodNodeNameIndex, nodeName)
	if err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// nodeRef is how upstream's node controllers refer to a node in events.
func nodeRef(name string, uid types.UID) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: name, UID: uid}
}

// RecordNodeStatusChange records upstream's node status event: reason status,
// "Node <name> status is now: <status>" (CIDRNotAvailable, NodeNotReady, …).
func RecordNodeStatusChange(r record.EventRecorder, node *corev1.Node, status string) {
	r.Eventf(nodeRef(node.Name, node.UID), corev1.EventTypeNormal, status, "Node %s status is now: %s", node.Name, status)
}

// RecordNodeEvent records "Node <name> event: <message>" on a node, as upstream's
// node controllers do (RegisteredNode, RemovingNode).
func RecordNodeEvent(r record.EventRecorder, node *corev1.Node, eventType, reason, message string) {
	r.Event(nodeRef(node.Name, node.UID), eventType, reason, fmt.Sprintf("Node %s event: %s", node.Name, message))
}
