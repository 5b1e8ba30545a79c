// Package kubelet is skiff's node agent core: it registers the machine as a
// Node, keeps its Lease and status fresh, and runs the pods bound to it
// through pkg/kubelet/runtime (containerd) and pkg/network (CNI), reporting
// their status as upstream's kubelet does.
//
// The shape follows upstream's kubelet in miniature: a pod informer on
// spec.nodeName feeds a work queue keyed by pod UID; one sync per pod at a
// time (the "pod worker") compares the pod's spec with what the runtime has
// and acts (sandbox, network, images, init containers, containers, restarts
// with back-off, graceful termination); container exits reported by the
// runtime wake the pod's worker; the status manager patches pods/status only
// when it changed.
package kubelet

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/eviction"
	"github.com/skiff-k8s/skiff/pkg/kubelet/images"
	"github.com/skiff-k8s/skiff/pkg/kubelet/objcache"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
	kserver "github.com/skiff-k8s/skiff/pkg/kubelet/server"
	"github.com/skiff-k8s/skiff/pkg/kubelet/volume"
	"github.com/skiff-k8s/skiff/pkg/network"
	"github.com/skiff-k8s/skiff/pkg/sysctl"
)

// Config is what the kubelet needs from the agent that runs it.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	// NodeIP is the node's InternalIP (the advertise address).
	NodeIP net.IP
	// Runtime runs the pods; RuntimeVersion is containerd's version
	// (nodeInfo.containerRuntimeVersion is containerd://<it>).
	Runtime        *runtime.Runtime
	RuntimeVersion string
	// DataDir is the agent's data dir; ephemeral-storage is its filesystem's size.
	DataDir string
	// Network is the template of the pod network; its PodCIDR is filled in
	// from node.spec.podCIDR once node IPAM assigned one.
	Network network.Config
	// ClusterDNS and ClusterDomain build the pods' resolv.conf.
	ClusterDNS    []net.IP
	ClusterDomain string
	// ResolvConf is the node's resolv.conf for pods (k3s' --resolv-conf);
	// empty picks one of network.HostResolvConfCandidates as k3s does.
	ResolvConf string
	// ControlPlane labels the node node-role.kubernetes.io/control-plane.
	ControlPlane bool
	// Labels are extra node labels (--node-label).
	Labels map[string]string
	// KubeletVersion is reported in nodeInfo.
	KubeletVersion string
	// Port is the kubelet API's port, reported in daemonEndpoints; 10250 when zero.
	Port int
	// ImageFsPath is on the filesystem holding containerd's content (the
	// image GC's imagefs); DataDir when empty.
	ImageFsPath string
	// ImageGCPolicy is images.DefaultPolicy when zero.
	ImageGCPolicy images.Policy
	// EvictionHard are the hard eviction thresholds; upstream's defaults
	// when nil.
	EvictionHard []eviction.Threshold
	// AllowedUnsafeSysctls are the sysctls pods may set beyond the safe
	// ones: names, or prefixes ending in "*" (the kubelet's
	// --allowed-unsafe-sysctls).
	AllowedUnsafeSysctls []string
}

// Kubelet runs the pods of one node.
type Kubelet struct {
	cfg      Config
	allocs   *allocations // in-place resizes' allocations (resize.go)
	client   kubernetes.Interface
	rt       *runtime.Runtime
	net      *network.Manager
	vol      *volume.Manager
	usage    kserver.UsageReader
	probes   probeManager
	hostDNS  network.HostDNS
	recorder record.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[types.UID]
	podStore cache.Indexer
	// sources serve the ConfigMaps and Secrets pods read, one watch each.
	sources *objcache.Sources
	// services feeds the pods' service link variables, as upstream's
	// kubelet reads them from an informer rather than a LIST per pod.
	services corelisters.ServiceLister
	imageGC  *images.GC
	eviction *eviction.Manager
	// sysctls admits the pods whose sysctls the node allows.
	sysctls *sysctl.Allowlist

	mu sync.Mutex
	// admitMu makes the admissions of pods one at a time (admit.go).
	admitMu sync.Mutex
	// node is the node as its informer last showed it (trimmed to labels and
	// taints, see admit.go), under mu.
	node *corev1.Node
	// pods are the last known objects by UID, kept after a delete until the
	// pod's containers are gone.
	pods map[types.UID]*corev1.Pod
	// workers holds per-pod state that outlives one sync (back-offs, pull errors).
	workers map[types.UID]*podWorker
	// hookCancels cut short the postStart hook running for a pod, once
	// the pod is deleted.
	hookCancels map[types.UID]context.CancelFunc
	// nodeStatusDirty asks the node status loop for an early update.
	nodeStatusKick chan struct{}
	started        time.Time
}

// New returns a kubelet for cfg; Run starts it.
func New(cfg Config) (*Kubelet, error) {
	if cfg.Client == nil || cfg.Runtime == nil || cfg.NodeName == "" {
		return nil, fmt.Errorf("kubelet: client, runtime and node name are required")
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.Port == 0 {
		cfg.Port = kubeletPort
	}
	if cfg.ImageFsPath == "" {
		cfg.ImageFsPath = cfg.DataDir
	}
	if cfg.ImageGCPolicy == (images.Policy{}) {
		cfg.ImageGCPolicy = images.DefaultPolicy
	}
	k := &Kubelet{
		cfg:            cfg,
		client:         cfg.Client,
		rt:             cfg.Runtime,
		pods:           map[types.UID]*corev1.Pod{},
		workers:        map[types.UID]*podWorker{},
		hookCancels:    map[types.UID]context.CancelFunc{},
		nodeStatusKick: make(chan struct{}, 1),
		started:        time.Now(),
		sources:        objcache.NewSources(cfg.Client, sourceIdle),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](200*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "pods"}),
	}
	k.allocs = newAllocations(cfg.DataDir)
	k.vol = &volume.Manager{Client: cfg.Client, Sources: k.sources, RootDir: filepath.Join(cfg.DataDir, "pods"), NodeName: cfg.NodeName}
	gc, err := images.NewGC(cfg.ImageGCPolicy, cfg.Runtime, images.StatFS(cfg.ImageFsPath), k.imagesInUse)
	if err != nil {
		return nil, fmt.Errorf("kubelet: image GC: %w", err)
	}
	k.imageGC = gc
	if cfg.EvictionHard == nil {
		cfg.EvictionHard = eviction.DefaultThresholds()
	}
	k.eviction = k.newEvictionManager(cfg.EvictionHard)
	if k.sysctls, err = sysctl.NewAllowlist(cfg.AllowedUnsafeSysctls); err != nil {
		return nil, fmt.Errorf("kubelet: allowed unsafe sysctls: %w", err)
	}
	return k, nil
}

// Run registers the node and runs pods until ctx is done. Containers keep
// running when it returns: a later kubelet re-adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	log := klog.FromContext(ctx)
	// Whichever way Run returns, what it started stops: the node's loops and
	// the informers, whose factories' Shutdown waits for it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer k.queue.ShutDown()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	k.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.cfg.NodeName})

	node, err := k.registerNode(ctx)
	if err != nil {
		return err
	}
	log.Info("Node registered", "node", k.cfg.NodeName)
	go k.leaseLoop(ctx, node)
	go k.nodeStatusLoop(ctx)

	cidr, err := k.waitPodCIDR(ctx)
	if err != nil {
		return err
	}
	ncfg := k.cfg.Network
	ncfg.PodCIDR = cidr
	if k.net, err = network.New(ncfg); err != nil {
		return fmt.Errorf("kubelet: pod network: %w", err)
	}
	k.hostDNS = k.buildHostDNS()
	log.Info("Pod network ready", "podCIDR", cidr)
	k.kickNodeStatus()

	factory := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	k.podStore = inf.GetIndexer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.podChanged(obj) },
		UpdateFunc: func(_, obj any) { k.podChanged(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				k.mu.Lock()
				if cancel := k.hookCancels[p.UID]; cancel != nil {
					cancel()
				}
				k.mu.Unlock()
				k.queue.Add(p.UID)
			}
		},
	})
	svcFactory := informers.NewSharedInformerFactoryWithOptions(k.client, 0, informers.WithTransform(serviceLinkFields))
	svcInf := svcFactory.Core().V1().Services()
	k.services = svcInf.Lister()
	// The node itself, as admission sees it (labels, taints), kept current
	// as upstream's kubelet keeps it, rather than as of the last status post.
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", k.cfg.NodeName).String()
		}), informers.WithTransform(admissionFields))
	nodeInf := nodeFactory.Core().V1().Nodes().Informer()
	_, _ = nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    k.nodeChanged,
		UpdateFunc: func(_, obj any) { k.nodeChanged(obj) },
	})
	factory.Start(ctx.Done())
	svcFactory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	defer func() {
		cancel()
		factory.Shutdown()
		svcFactory.Shutdown()
		nodeFactory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced, svcInf.Informer().HasSynced, nodeInf.HasSynced) {
		return ctx.Err()
	}
	// Leftovers of pods no longer bound here: sandboxes and networks, and
	// volume directories of pods with neither.
	k.enqueueOrphans(ctx)
	k.cleanupVolumes(ctx)

	if err := k.setupQOSCgroups(); err != nil {
		return fmt.Errorf("kubelet: QoS cgroups: %w", err)
	}

	events, unsubscribe := k.rt.Subscribe()
	defer unsubscribe()
	go k.watchRuntime(ctx, events)
	go k.resyncLoop(ctx)
	go k.imageGCLoop(ctx, k.imageGC)
	go k.eviction.Run(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		k.sources.Run(ctx)
	}()

	// Enough workers that pods in their termination grace period do not hold up the others.
	const workers = 16
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	k.queue.ShutDown()
	wg.Wait()
	return nil
}

// ResyncAll syncs every pod soon, for when the runtime may have lost or
// changed containers behind the kubelet's back (containerd restarted).
func (k *Kubelet) ResyncAll() {
	k.mu.Lock()
	for uid := range k.pods {
		k.queue.Add(uid)
	}
	k.mu.Unlock()
}

func (k *Kubelet) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	k.pods[p.UID] = p
	if cancel := k.hookCancels[p.UID]; cancel != nil && p.DeletionTimestamp != nil {
		cancel()
	}
	k.mu.Unlock()
	k.queue.Add(p.UID)
}

// watchRuntime wakes a pod's worker when one of its containers starts or exits.
func (k *Kubelet) watchRuntime(ctx context.Context, events <-chan runtime.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			sb, err := k.rt.GetSandbox(ctx, e.SandboxID)
			if err != nil {
				continue
			}
			k.queue.Add(types.UID(sb.UID))
		}
	}
}

// resyncLoop syncs every known pod periodically, as upstream's kubelet does
// (its relist is 1 s; a slower one suffices since exits arrive as events).
func (k *Kubelet) resyncLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k.mu.Lock()
		for uid := range k.pods {
			k.queue.Add(uid)
		}
		k.mu.Unlock()
		k.enqueueOrphans(ctx)
		if err := k.updateBurstableCgroup(); err != nil {
			klog.FromContext(ctx).Info("Updating the burstable QoS cgroup failed", "err", err)
		}
	}
}

// enqueueOrphans queues the pods that have sandboxes or networks here but
// that the kubelet does not know (deleted while it was down).
func (k *Kubelet) enqueueOrphans(ctx context.Context) {
	sbs, err := k.rt.ListSandboxes(ctx, nil)
	if err != nil {
		klog.FromContext(ctx).Error(err, "Listing sandboxes")
		return
	}
	uids := map[types.UID]bool{}
	for _, sb := range sbs {
		uids[types.UID(sb.UID)] = true
	}
	if k.net != nil {
		if nets, err := k.net.List(); err == nil {
			for _, u := range nets {
				uids[types.UID(u)] = true
			}
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid := range uids {
		if _, ok := k.pods[uid]; !ok {
			k.queue.Add(uid)
		}
	}
}

func (k *Kubelet) processNext(ctx context.Context) bool {
	uid, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(uid)
	requeue, err := k.syncPod(ctx, uid)
	if err != nil {
		if ctx.Err() == nil {
			klog.FromContext(ctx).V(2).Info("Pod sync failed, will retry", "uid", uid, "err", err)
		}
		k.queue.AddRateLimited(uid)
		return true
	}
	k.queue.Forget(uid)
	if requeue > 0 {
		k.queue.AddAfter(uid, requeue)
	}
	return true
}

// cleanupVolumes removes the volume directories of pods that are neither
// bound here nor have a sandbox (left by a crash or a missed deletion).
func (k *Kubelet) cleanupVolumes(ctx context.Context) {
	live := map[types.UID]bool{}
	for _, obj := range k.podStore.List() {
		live[obj.(*corev1.Pod).UID] = true
	}
	sbs, err := k.rt.ListSandboxes(ctx, nil)
	if err != nil {
		return
	}
	for _, sb := range sbs {
		live[types.UID(sb.UID)] = true
	}
	if err := k.vol.Cleanup(ctx, live); err != nil {
		klog.FromContext(ctx).Error(err, "Removing volumes of pods gone")
	}
}
