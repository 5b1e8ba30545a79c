package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// responsible reports whether a pod is ours to schedule: pending, unassigned, not
// being deleted, and asking for the default scheduler.
func responsible(pod *corev1.Pod) bool {
	name := pod.Spec.SchedulerName
	return pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil &&
		(name == "" || name == DefaultSchedulerName)
}

// addEventHandlers wires the informers to the cache and the queue, and returns
// their HasSynced functions.
func (s *Scheduler) addEventHandlers() []cache.InformerSynced {
	// Finished pods hold no resources: the informer leaves them out, as upstream's
	// does, so they vanish from the cache as if deleted.
	podInformers := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTransform(controllers.CacheTransform), informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.AndSelectors(
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed))).String()
	}))
	s.podInformers = podInformers
	pods := podInformers.Core().V1().Pods()
	s.podLister = pods.Lister()
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.onPod(nil, obj.(*corev1.Pod)) },
		UpdateFunc: func(old, obj any) { s.onPod(old.(*corev1.Pod), obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				s.onPodDelete(pod)
			}
		},
	})
	nodes := s.informers.Core().V1().Nodes()
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			s.cache.SetNode(obj.(*corev1.Node))
			s.queue.Move(eventAny)
		},
		UpdateFunc: func(old, obj any) {
			o, n := old.(*corev1.Node), obj.(*corev1.Node)
			s.cache.SetNode(n)
			if nodeSchedulingChanged(o, n) {
				s.queue.Move(eventAny)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				s.cache.RemoveNode(n.Name)
			}
		},
	})
	// Claims, volumes and classes appearing can let a pod held back by
	// VolumeBinding fit; namespaces feed affinity namespace selectors.
	volumeChange := func(any) { s.queue.Move(eventVolume) }
	volumeHandler := cache.ResourceEventHandlerFuncs{AddFunc: volumeChange, UpdateFunc: func(_, obj any) { volumeChange(obj) }}
	synced := []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced}
	for _, inf := range []cache.SharedIndexInformer{
		s.informers.Core().V1().PersistentVolumeClaims().Informer(),
		s.informers.Core().V1().PersistentVolumes().Informer(),
		s.informers.Storage().V1().StorageClasses().Informer(),
	} {
		_, _ = inf.AddEventHandler(volumeHandler)
		synced = append(synced, inf.HasSynced)
	}
	// What owns pods feeds the default spreading; no event of theirs moves pods.
	for _, inf := range []cache.SharedIndexInformer{
		s.informers.Core().V1().Services().Informer(),
		s.informers.Core().V1().ReplicationControllers().Informer(),
		s.informers.Apps().V1().ReplicaSets().Informer(),
		s.informers.Apps().V1().StatefulSets().Informer(),
	} {
		synced = append(synced, inf.HasSynced)
	}
	pdbs := s.informers.Policy().V1().PodDisruptionBudgets()
	s.pdbLister = pdbs.Lister()
	synced = append(synced, pdbs.Informer().HasSynced)
	ns := s.informers.Core().V1().Namespaces().Informer()
	_, _ = ns.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.queue.Move(eventAssignedPod) },
		UpdateFunc: func(_, obj any) { s.queue.Move(eventAssignedPod) },
	})
	return append(synced, ns.HasSynced)
}

func (s *Scheduler) onPod(old, pod *corev1.Pod) {
	if pod.Spec.NodeName == "" && responsible(pod) {
		s.cache.Nominate(pod, pod.Status.NominatedNodeName)
	} else {
		s.cache.Nominate(pod, "")
	}
	if pod.Spec.NodeName != "" {
		if old == nil || old.Spec.NodeName == "" {
			s.queue.Delete(pod.UID)
		}
		s.cache.SetPod(pod)
		// A pod newly seen on a node, relabelled, or resized in place may let a
		// waiting pod fit, satisfy its affinity or change a spread count.
		if old == nil || old.Spec.NodeName == "" || !equality.Semantic.DeepEqual(old.Labels, pod.Labels) || resized(old, pod) {
			s.queue.Move(eventAssignedPod)
		}
		return
	}
	if !responsible(pod) {
		s.queue.Delete(pod.UID)
		return
	}
	if old == nil {
		s.queue.Add(pod)
		return
	}
	s.queue.Update(pod)
}

// resized reports whether an assigned pod's requests changed (an in-place resize,
// requested or carried out).
func resized(old, pod *corev1.Pod) bool {
	a, b := podRequests(old), podRequests(pod)
	return a.MilliCPU != b.MilliCPU || a.Memory != b.Memory
}

func (s *Scheduler) onPodDelete(pod *corev1.Pod) {
	s.queue.Delete(pod.UID)
	s.cache.Nominate(pod, "")
	if s.cache.IsAssumedOrBound(pod.UID) {
		s.cache.RemovePod(pod.UID)
		s.queue.Move(eventAny)
	}
}

// nodeSchedulingChanged reports whether a node update can let a waiting pod fit:
// heartbeats and image lists cannot.
func nodeSchedulingChanged(old, new *corev1.Node) bool {
	return old.Spec.Unschedulable != new.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, new.Spec.Taints) ||
		!equality.Semantic.DeepEqual(old.Labels, new.Labels) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, new.Status.Allocatable)
}
