package evaluator

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

const storageClassSuffix = ".storageclass.storage.k8s.io/"

// NewPersistentVolumeClaimEvaluator measures claims: counts and requested storage, in
// all and per storage class (<class>.storageclass.storage.k8s.io/requests.storage).
func NewPersistentVolumeClaimEvaluator(list generic.ListFuncByNamespace) quota.Evaluator {
	return &evaluator{gr: corev1.Resource("persistentvolumeclaims"), list: list, now: time.Now, handles: createOrUpdate,
		names:    []corev1.ResourceName{corev1.ResourcePersistentVolumeClaims, count(corev1.Resource("persistentvolumeclaims")), corev1.ResourceRequestsStorage},
		suffixes: []string{storageClassSuffix + string(corev1.ResourcePersistentVolumeClaims), storageClassSuffix + string(corev1.ResourceRequestsStorage)},
		usage: func(obj runtime.Object, _ time.Time) corev1.ResourceList {
			return PersistentVolumeClaimUsage(obj.(*corev1.PersistentVolumeClaim))
		}}
}

// PersistentVolumeClaimUsage is what a claim uses.
func PersistentVolumeClaimUsage(pvc *corev1.PersistentVolumeClaim) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePersistentVolumeClaims: one(), count(corev1.Resource("persistentvolumeclaims")): one()}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	} else if c, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	}
	if class != "" {
		out[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = one()
	}
	if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		out[corev1.ResourceRequestsStorage] = q
		if class != "" {
			out[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourceRequestsStorage))] = q
		}
	}
	return out
}
