// Package localpath is skiff's built-in local-path provisioner, as k3s ships
// rancher's: the StorageClass local-path (provisioner rancher.io/local-path,
// WaitForFirstConsumer, reclaim policy Delete, the cluster's default class) is
// created when the controller starts and is missing, and each claim of the class
// gets a hostPath PersistentVolume on the node the scheduler selected for it
// (volume.kubernetes.io/selected-node), with node affinity to that node, at
// <data-dir>/storage/pvc-<uid>_<namespace>_<name>. When the claim is deleted and
// the volume released, the directory and the volume are deleted.
//
// The directory is made and removed here, on the server's machine, for the nodes
// that live on it: simulated nodes and the server's own node. On another node the
// kubelet creates it when it mounts the hostPath volume (DirectoryOrCreate); k3s
// runs a helper pod there instead, which is the node agent's to add.
package localpath

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

const (
	// ProvisionerName is the provisioner of the local-path class, as k3s names it.
	ProvisionerName = "rancher.io/local-path"
	// ClassName is the built-in StorageClass.
	ClassName = "local-path"
	// annSelectedNode records on a volume the node it was provisioned for, as
	// rancher's provisioner does.
	annSelectedNode = "local.path.provisioner/selected-node"
	// labelSimNode marks simulated nodes, which live in the server process.
	labelSimNode = "node.skiff.io/sim"
)

// Provisioner provisions and deletes local-path volumes.
type Provisioner struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	claims   corelisters.PersistentVolumeClaimLister
	volumes  corelisters.PersistentVolumeLister
	classes  storagelisters.StorageClassLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced

	claimQueue  controllers.Queue
	volumeQueue controllers.Queue

	// storageDir is <data-dir>/storage; hostname is this machine's name.
	storageDir string
	hostname   string
}

// Start registers the informers, ensures the StorageClass and launches the workers.
func Start(ctx context.Context, c *controllers.Context) error {
	p, err := New(c)
	if err != nil {
		return err
	}
	c.Go(func() { p.Run(ctx) })
	return nil
}

// New builds the provisioner on c's shared informers.
func New(c *controllers.Context) (*Provisioner, error) {
	pvcs := c.Informers.Core().V1().PersistentVolumeClaims()
	pvs := c.Informers.Core().V1().PersistentVolumes()
	classes := c.Informers.Storage().V1().StorageClasses()
	nodes := c.Informers.Core().V1().Nodes()
	host, _ := os.Hostname()
	p := &Provisioner{
		client:      c.Client,
		recorder:    c.Recorder(ProvisionerName),
		claims:      pvcs.Lister(),
		volumes:     pvs.Lister(),
		classes:     classes.Lister(),
		nodes:       nodes.Lister(),
		synced:      []cache.InformerSynced{pvcs.Informer().HasSynced, pvs.Informer().HasSynced, classes.Informer().HasSynced, nodes.Informer().HasSynced},
		claimQueue:  controllers.NewQueue("local-path-claims"),
		volumeQueue: controllers.NewQueue("local-path-volumes"),
		storageDir:  filepath.Join(c.DataDir, "storage"),
		hostname:    strings.ToLower(host),
	}
	if _, err := pvcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { controllers.Enqueue(p.claimQueue, obj) },
		UpdateFunc: func(_, obj interface{}) { controllers.Enqueue(p.claimQueue, obj) },
	}); err != nil {
		return nil, err
	}
	if _, err := pvs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { controllers.Enqueue(p.volumeQueue, obj) },
		UpdateFunc: func(_, obj interface{}) { controllers.Enqueue(p.volumeQueue, obj) },
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// Run ensures the StorageClass, then runs the workers until ctx is done.
func (p *Provisioner) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		controllers.RunWorkers(ctx, "local-path-volumes", p.volumeQueue, 1, p.syncVolume, p.synced...)
	}()
	if controllers.WaitForCacheSync(ctx, "local-path-provisioner", p.synced...) {
		_ = wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := p.ensureClass(ctx); err != nil {
				klog.FromContext(ctx).Error(err, "Cannot create the local-path StorageClass, will retry")
				return false, nil
			}
			return true, nil
		})
		controllers.RunWorkers(ctx, "local-path-claims", p.claimQueue, 2, p.syncClaim)
	}
	<-done
}

// Class is the built-in StorageClass, as k3s's local-storage manifest has it.
func Class() *storagev1.StorageClass {
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	reclaim := corev1.PersistentVolumeReclaimDelete
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       ProvisionerName,
		VolumeBindingMode: &mode,
		ReclaimPolicy:     &reclaim,
	}
}

// ensureClass creates the local-path StorageClass when it is missing; one the
// user changed or replaced is left alone.
func (p *Provisioner) ensureClass(ctx context.Context) error {
	if _, err := p.classes.Get(ClassName); err == nil {
		return nil
	}
	_, err := p.client.StorageV1().StorageClasses().Create(ctx, Class(), metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// isLocal reports whether a node's filesystem is this machine's: a simulated
// node, or the node named after this host.
func (p *Provisioner) isLocal(node *corev1.Node) bool {
	if node.Labels[labelSimNode] == "true" {
		return true
	}
	return p.hostname != "" && (node.Name == p.hostname || node.Labels[corev1.LabelHostname] == p.hostname)
}
