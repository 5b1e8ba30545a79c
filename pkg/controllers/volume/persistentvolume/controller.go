// Package persistentvolume is upstream's persistent volume binder
// (persistentvolume-controller): it binds each PersistentVolumeClaim to a matching
// PersistentVolume (capacity, access modes, storage class, selector, volume mode,
// or the volume a claim or volume names), keeps the phases (volumes
// Available/Bound/Released/Failed, claims Pending/Bound/Lost) and the binding
// annotations (pv.kubernetes.io/bind-completed, pv.kubernetes.io/bound-by-controller),
// gives claims without a class the default StorageClass, hands claims of a class
// to its (external) provisioner through volume.kubernetes.io/storage-provisioner,
// and reclaims the volumes of deleted claims: Retain keeps them Released, Delete
// leaves dynamically provisioned volumes to their provisioner.
//
// Claims of a WaitForFirstConsumer class are not bound here: the scheduler picks
// a node for the claim's first pod and sets volume.kubernetes.io/selected-node on
// the claim (or binds a matching volume itself); then the provisioner provisions
// for that node and this controller completes the binding.
package persistentvolume

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// syncPeriod is upstream's --pvclaimbinder-sync-period: every volume and claim is
// looked at again this often, which also finds volumes created after a claim.
const syncPeriod = 15 * time.Second

// Controller is the persistent volume binder.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	volumes  corelisters.PersistentVolumeLister
	claims   corelisters.PersistentVolumeClaimLister
	classes  storagelisters.StorageClassLister
	synced   []cache.InformerSynced

	volumeQueue controllers.Queue
	claimQueue  controllers.Queue
}

// Start registers the informers and launches the workers.
func Start(ctx context.Context, c *controllers.Context) error {
	pc, err := New(c)
	if err != nil {
		return err
	}
	c.Go(func() { pc.Run(ctx) })
	return nil
}

// New builds the controller on c's shared informers.
func New(c *controllers.Context) (*Controller, error) {
	pvs := c.Informers.Core().V1().PersistentVolumes()
	pvcs := c.Informers.Core().V1().PersistentVolumeClaims()
	classes := c.Informers.Storage().V1().StorageClasses()
	pc := &Controller{
		client:      c.Client,
		recorder:    c.Recorder("persistentvolume-controller"),
		volumes:     pvs.Lister(),
		claims:      pvcs.Lister(),
		classes:     classes.Lister(),
		synced:      []cache.InformerSynced{pvs.Informer().HasSynced, pvcs.Informer().HasSynced, classes.Informer().HasSynced},
		volumeQueue: controllers.NewQueue("volumes"),
		claimQueue:  controllers.NewQueue("claims"),
	}
	if _, err := pvs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    pc.volumeChanged,
		UpdateFunc: func(_, obj interface{}) { pc.volumeChanged(obj) },
		DeleteFunc: pc.volumeChanged,
	}); err != nil {
		return nil, err
	}
	if _, err := pvcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { controllers.Enqueue(pc.claimQueue, obj) },
		UpdateFunc: func(_, obj interface{}) { controllers.Enqueue(pc.claimQueue, obj) },
		DeleteFunc: pc.claimDeleted,
	}); err != nil {
		return nil, err
	}
	return pc, nil
}

// Run runs the workers and the periodic resync until ctx is done.
func (pc *Controller) Run(ctx context.Context) {
	done := make(chan struct{}, 2)
	go func() {
		controllers.RunWorkers(ctx, "persistentvolume-binder-volumes", pc.volumeQueue, 1, pc.syncVolumeKey, pc.synced...)
		done <- struct{}{}
	}()
	go func() {
		controllers.RunWorkers(ctx, "persistentvolume-binder-claims", pc.claimQueue, 1, pc.syncClaimKey, pc.synced...)
		done <- struct{}{}
	}()
	if controllers.WaitForCacheSync(ctx, "persistentvolume-binder", pc.synced...) {
		wait.UntilWithContext(ctx, func(context.Context) { pc.resync() }, syncPeriod)
	}
	<-done
	<-done
}

func (pc *Controller) resync() {
	if vols, err := pc.volumes.List(labels.Everything()); err == nil {
		for _, v := range vols {
			controllers.Enqueue(pc.volumeQueue, v)
		}
	}
	if claims, err := pc.claims.List(labels.Everything()); err == nil {
		for _, c := range claims {
			controllers.Enqueue(pc.claimQueue, c)
		}
	}
}

// volumeChanged queues the volume, the claim it points to, and, when it is free,
// the unbound claims that might want it.
func (pc *Controller) volumeChanged(obj interface{}) {
	controllers.Enqueue(pc.volumeQueue, obj)
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return
	}
	if ref := pv.Spec.ClaimRef; ref != nil {
		pc.claimQueue.Add(ref.Namespace + "/" + ref.Name)
		return
	}
	claims, err := pc.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, c := range claims {
		if c.Spec.VolumeName == "" {
			controllers.Enqueue(pc.claimQueue, c)
		}
	}
}

// claimDeleted queues the volume the claim was bound to, to be released.
func (pc *Controller) claimDeleted(obj interface{}) {
	controllers.Enqueue(pc.claimQueue, obj)
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if c, ok := obj.(*corev1.PersistentVolumeClaim); ok && c.Spec.VolumeName != "" {
		pc.volumeQueue.Add(c.Spec.VolumeName)
	}
}
