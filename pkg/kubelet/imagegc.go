package kubelet

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/images"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// imagesInUse are the IDs of the images of every container the runtime has
// (running or not, as upstream counts them) and of the pods bound here
// (so that an image pulled for a pod about to start is not collected).
func (k *Kubelet) imagesInUse(ctx context.Context) (map[string]bool, error) {
	cs, err := k.rt.ListContainers(ctx, runtime.ContainerFilter{})
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, c := range cs {
		if c.ImageRef != "" {
			used[c.ImageRef] = true
		}
	}
	if k.podStore != nil {
		for _, obj := range k.podStore.List() {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				continue
			}
			var refs []string
			for _, c := range pod.Spec.InitContainers {
				refs = append(refs, c.Image)
			}
			for _, c := range pod.Spec.Containers {
				refs = append(refs, c.Image)
			}
			for _, c := range pod.Spec.EphemeralContainers {
				refs = append(refs, c.Image)
			}
			for _, ref := range refs {
				if img, err := k.rt.GetImage(ctx, ref); err == nil {
					used[img.ID] = true
				}
			}
		}
	}
	return used, nil
}

// imageGCLoop collects images every images.Period, as upstream's kubelet.
func (k *Kubelet) imageGCLoop(ctx context.Context, gc *images.GC) {
	log := klog.FromContext(ctx)
	nodeRef := &corev1.ObjectReference{Kind: "Node", Name: k.cfg.NodeName, UID: types.UID(k.cfg.NodeName)}
	t := time.NewTicker(images.Period)
	defer t.Stop()
	for {
		freed, err := gc.GarbageCollect(ctx)
		if freed > 0 {
			log.Info("Image garbage collection freed space", "bytes", freed)
			k.kickNodeStatus() // node.status.images changed
		}
		var fse *images.FreeSpaceError
		switch {
		case errors.As(err, &fse):
			k.recorder.Event(nodeRef, corev1.EventTypeWarning, "FreeDiskSpaceFailed", err.Error())
		case err != nil && ctx.Err() == nil:
			k.recorder.Event(nodeRef, corev1.EventTypeWarning, "ImageGCFailed", err.Error())
			log.Error(err, "Image garbage collection failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
