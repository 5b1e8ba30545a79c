package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

// BenchmarkScheduler measures scheduling throughput: 5,000 pods created by 50
// clients at once on 1,000 simulated nodes, from the first create until every pod
// is bound, and the server's RSS afterwards (apiserver, scheduler, controllers and
// the simulated kubelets are one process).
func BenchmarkScheduler(b *testing.B) {
	const nodes, pods, clients = 1000, 5000, 50
	for i := 0; i < b.N; i++ {
		s, err := framework.Run(binary(b), fmt.Sprintf("--sim-nodes=%d", nodes))
		if err != nil {
			b.Fatal(err)
		}
		func() {
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			cfg := *s.Config
			cfg.QPS, cfg.Burst = -1, 0
			c, err := newClient(&cfg)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for {
				l, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
				if err == nil && len(l.Items) == nodes {
					break
				}
				if ctx.Err() != nil {
					b.Fatalf("nodes did not register: %v", err)
				}
				time.Sleep(time.Second)
			}
			report(b, "%d simulated nodes registered in %v", nodes, time.Since(start).Round(time.Millisecond))
			time.Sleep(5 * time.Second) // let registration work settle
			ns := "schedbench"
			if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			// An informer rather than a bare watch: under this load the apiserver may
			// close a slow watch, and the informer lists again where a watch would stop.
			allBound := make(chan time.Time, 1)
			var boundMu sync.Mutex
			bound := map[string]bool{}
			onPod := func(obj any) {
				p, ok := obj.(*corev1.Pod)
				if !ok || p.Spec.NodeName == "" {
					return
				}
				boundMu.Lock()
				defer boundMu.Unlock()
				if bound[p.Name] {
					return
				}
				bound[p.Name] = true
				if len(bound) == pods {
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
			defer factory.Shutdown()
			cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)

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
				boundMu.Lock()
				n := len(bound)
				boundMu.Unlock()
				b.Fatalf("pods not all bound in time (%d created, %d failed, %d bound)", created.Load(), failed.Load(), n)
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
