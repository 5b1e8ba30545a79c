package persistentvolume

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func everything() labels.Selector { return labels.Everything() }

func classWFFC() *storagev1.StorageClass {
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	reclaim := corev1.PersistentVolumeReclaimDelete
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path",
		Annotations: map[string]string{annDefaultClass: "true"}},
		Provisioner: "rancher.io/local-path", VolumeBindingMode: &mode, ReclaimPolicy: &reclaim}
}
