package controllers

import (
	"context"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Queue is the rate-limited work queue of keys every controller drives: failed keys
// come back with exponential backoff (5 ms doubling to 1000 s, as upstream), so an
// object that cannot be reconciled is retried without hot-looping.
type Queue = workqueue.TypedRateLimitingInterface[string]

// NewQueue returns a named queue with upstream's default controller rate limiter.
func NewQueue(name string) Queue {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// Key is the namespace/name key of an object, tombstones included.
func Key(obj interface{}) (string, bool) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return "", false
	}
	return key, true
}

// Enqueue adds obj's key to q.
func Enqueue(q Queue, obj interface{}) {
	if key, ok := Key(obj); ok {
		q.Add(key)
	}
}

// RunWorkers waits for the caches, then runs n workers that call sync for each key
// of q until ctx is done; it shuts the queue down and returns when they have all
// stopped. A key whose sync fails is requeued with backoff; one that succeeds is
// forgotten.
func RunWorkers(ctx context.Context, name string, q Queue, n int, sync func(ctx context.Context, key string) error, synced ...cache.InformerSynced) {
	defer q.ShutDown()
	logger := klog.FromContext(ctx).WithValues("controller", name)
	ctx = klog.NewContext(ctx, logger)
	if !WaitForCacheSync(ctx, name, synced...) {
		return
	}
	logger.V(2).Info("Starting workers", "count", n)
	done := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for processNext(ctx, q, sync) {
				}
			}, time.Second)
		}()
	}
	<-ctx.Done()
	q.ShutDown()
	for i := 0; i < n; i++ {
		<-done
	}
}

func processNext(ctx context.Context, q Queue, sync func(ctx context.Context, key string) error) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	if err := sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			klog.FromContext(ctx).V(2).Info("Sync failed, will retry", "key", key, "err", err)
		}
		q.AddRateLimited(key)
		return true
	}
	q.Forget(key)
	return true
}
