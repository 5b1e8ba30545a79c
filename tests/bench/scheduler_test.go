package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/scheduler"
)

// BenchmarkScheduler measures scheduling throughput: 5,000 pods created by 50
// clients at once on 1,000 simulated nodes, from the first create until every pod
// is bound, and the server's RSS afterwards (apiserver, scheduler, controllers and
// the simulated kubelets are one process).
func BenchmarkScheduler(b *testing.B) {
	const nodes, pods, clients = 1000, 5000, 50
	for i := 0; i < b.N; i++ {
		s := runSim(b, nodes)
		func() {
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			c := unlimitedClient(b, s)
			waitNodes(ctx, b, c, nodes)
			ns := "schedbench"
			createNamespace(ctx, b, c, ns)
			allBound := watchBound(ctx, b, c, ns, pods)
			var created, failed atomic.Int64
			var wg sync.WaitGroup
			t0 := time.Now()
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for j := w; j < pods; j += clients {
						p := benchPod(fmt.Sprintf("p-%05d", j))
						if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
							failed.Add(1)
							continue
						}
						created.Add(1)
					}
				}(w)
			}
			wg.Wait()
			createdIn := time.Since(t0)
			var done time.Time
			select {
			case done = <-allBound:
			case <-ctx.Done():
				b.Fatalf("pods not all bound in time (%d created, %d failed)", created.Load(), failed.Load())
			}
			el := done.Sub(t0)
			rate := float64(pods) / el.Seconds()
			report(b, "created %d pods in %v (%.0f/s, %d errors)", created.Load(), createdIn.Round(time.Millisecond),
				float64(created.Load())/createdIn.Seconds(), failed.Load())
			report(b, "scheduled %d pods on %d nodes in %v: %.0f pods/s (first create to last binding)", pods, nodes, el.Round(time.Millisecond), rate)
			rss := rssMB(s.PID())
			report(b, "server RSS after scheduling: %.1f MB", rss)
			b.ReportMetric(rate, "pods/s")
			b.ReportMetric(rss, "MB-rss")
		}()
	}
}

func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "schedbench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "pause",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("100m"),
				corev1.ResourceMemory: resource.MustParse("128Mi"),
			}},
		}}},
	}
}

// BenchmarkSchedulerBacklog measures the scheduler alone: 5,000 pods wait on a
// server started with --disable-scheduler and 1,000 simulated nodes, then the
// scheduler starts (in this process, with the server's scheduler credentials) and
// the time until every pod is bound is taken. Pod creation, which bounds the
// figure of BenchmarkScheduler on a small machine, is out of the measurement.
func BenchmarkSchedulerBacklog(b *testing.B) {
	const nodes, pods, clients = 1000, 5000, 50
	for i := 0; i < b.N; i++ {
		s := runSim(b, nodes, "--disable-scheduler")
		func() {
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			c := unlimitedClient(b, s)
			waitNodes(ctx, b, c, nodes)
			ns := "backlog"
			createNamespace(ctx, b, c, ns)
			var wg sync.WaitGroup
			var failed atomic.Int64
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for j := w; j < pods; j += clients {
						if _, err := c.CoreV1().Pods(ns).Create(ctx, benchPod(fmt.Sprintf("p-%05d", j)), metav1.CreateOptions{}); err != nil {
							failed.Add(1)
						}
					}
				}(w)
			}
			wg.Wait()
			if failed.Load() > 0 {
				b.Fatalf("%d creates failed", failed.Load())
			}
			bound := watchBound(ctx, b, c, ns, pods)
			sctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			t0 := time.Now()
			go func() {
				defer close(done)
				_ = scheduler.Run(sctx, scheduler.Config{Kubeconfig: filepath.Join(s.DataDir, "server", "cred", "scheduler.kubeconfig"), Identity: "bench"})
			}()
			var end time.Time
			select {
			case end = <-bound:
			case <-ctx.Done():
				b.Fatal("pods not all bound in time")
			}
			stop()
			<-done
			el := end.Sub(t0)
			rate := float64(pods) / el.Seconds()
			report(b, "scheduler drained %d pending pods on %d nodes in %v: %.0f pods/s (start, lease and cache sync included)", pods, nodes, el.Round(time.Millisecond), rate)
			b.ReportMetric(rate, "backlog-pods/s")
		}()
	}
}

// watchBound returns a channel that receives the time the last of n pods in ns is
// seen bound. It watches through an informer rather than a bare watch: under this
// load the apiserver may close a slow watch, and the informer lists again where a
// watch would stop.
func watchBound(ctx context.Context, b *testing.B, c kubernetes.Interface, ns string, n int) <-chan time.Time {
	allBound := make(chan time.Time, 1)
	var mu sync.Mutex
	bound := map[string]bool{}
	onPod := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if bound[p.Name] {
			return
		}
		bound[p.Name] = true
		if len(bound) == n {
			allBound <- time.Now()
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onPod,
		UpdateFunc: func(_, obj any) { onPod(obj) },
	})
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return allBound
}
