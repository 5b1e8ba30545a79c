// Package scheduler is skiff's kube-scheduler: it assigns pending pods to nodes.
// It runs inside `skiff server` as an ordinary API client with its own identity
// (system:kube-scheduler), leader-elected through the Lease kube-system/kube-scheduler,
// and binds pods through pods/binding, as upstream's scheduler does.
//
// Scheduling follows upstream's framework with far less machinery: a priority queue
// with backoff feeds one scheduling loop; each pod passes PreFilter and Filter
// plugins node by node, the feasible nodes are scored, the best is reserved in the
// cache (assumed) and the binding is written in the background. A pod that fits
// nowhere gets the PodScheduled=False condition, a FailedScheduling event and, when
// it outranks running pods, preempts them.
//
//	err := scheduler.Run(ctx, scheduler.Config{Kubeconfig: "/var/lib/skiff/server/cred/scheduler.kubeconfig"})
package scheduler

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllermanager"
	"github.com/skiff-k8s/skiff/pkg/controllers"
	"github.com/skiff-k8s/skiff/pkg/leader"
)

// Upstream's names: the scheduler name pods ask for, and its lease.
const (
	DefaultSchedulerName = corev1.DefaultSchedulerName
	LeaseName            = "kube-scheduler"
)

// maxBindingsInFlight bounds the bindings written at once.
const maxBindingsInFlight = 64

// Config configures the scheduler.
type Config struct {
	// Kubeconfig holds the scheduler's client credentials.
	Kubeconfig string
	// Identity is the holder name in the lease (default leader.Identity()).
	Identity string
}

// Run schedules pods while this process leads, until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	rc, err := controllermanager.RESTConfig(cfg.Kubeconfig, "skiff/scheduler")
	if err != nil {
		return err
	}
	// A binding and an event per pod: the scheduler needs more than the manager's
	// budget to place hundreds of pods a second.
	rc.QPS, rc.Burst = 5000, 10000
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	id := cfg.Identity
	if id == "" {
		id = leader.Identity()
	}
	logger := klog.FromContext(ctx)
	return leader.Run(ctx, client, LeaseName, id, func(ctx context.Context) {
		New(client).Run(ctx)
		logger.Info("Scheduler stopped")
	})
}

// Scheduler is one scheduler instance: its informers, cache, queue and profile.
type Scheduler struct {
	client    kubernetes.Interface
	informers informers.SharedInformerFactory
	cache     *Cache
	queue     *Queue
	profile   *Profile
	recorder  record.EventRecorder
	// podInformers watch the pods that are not finished (a factory of their own
	// for the field selector).
	podInformers informers.SharedInformerFactory
	podLister    corelisters.PodLister
	pdbLister    policylisters.PodDisruptionBudgetLister

	// binding holds a token per binding in flight.
	binding chan struct{}
	// nextStart is where the next cycle starts walking the nodes, so that the
	// nodes a partial search skips differ from pod to pod.
	nextStart int
	wg        sync.WaitGroup
}

// New builds a scheduler on client. Run starts it.
func New(client kubernetes.Interface) *Scheduler {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(controllers.CacheTransform))
	return &Scheduler{
		client:    client,
		informers: f,
		cache:     NewCache(),
		queue:     NewQueue(),
		profile:   defaultProfile(client, f),
		binding:   make(chan struct{}, maxBindingsInFlight),
	}
}

// Run starts the informers, waits for their caches, and schedules until ctx ends,
// then waits for bindings in flight.
func (s *Scheduler) Run(ctx context.Context) {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	s.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: DefaultSchedulerName})

	synced := s.addEventHandlers()
	s.informers.Start(ctx.Done())
	s.podInformers.Start(ctx.Done())
	defer s.informers.Shutdown()
	defer s.podInformers.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	klog.FromContext(ctx).Info("Scheduler started")
	go s.queue.Run(ctx)
	for s.scheduleOne(ctx) {
	}
	s.wg.Wait()
}
