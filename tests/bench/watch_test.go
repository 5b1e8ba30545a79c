package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func newClient(cfg *rest.Config) (kubernetes.Interface, error) { return kubernetes.NewForConfig(cfg) }

// watchDelivery measures the time from a create being sent to its ADDED event reaching
// each of 10 watchers, over 500 creates at 10 concurrent writers.
func watchDelivery(b *testing.B, c kubernetes.Interface) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := "watchbench"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	const watchers, creates, writers = 10, 500, 10
	var sent sync.Map // name → time.Time
	var mu sync.Mutex
	var lat latencies
	var wg sync.WaitGroup
	for i := 0; i < watchers; i++ {
		w, err := c.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func(w watch.Interface) {
			defer wg.Done()
			defer w.Stop()
			seen := 0
			for ev := range w.ResultChan() {
				if ev.Type != watch.Added {
					continue
				}
				cm := ev.Object.(*corev1.ConfigMap)
				if t0, ok := sent.Load(cm.Name); ok {
					mu.Lock()
					lat = append(lat, time.Since(t0.(time.Time)))
					mu.Unlock()
				}
				if seen++; seen == creates {
					return
				}
			}
		}(w)
	}
	var cw sync.WaitGroup
	for wr := 0; wr < writers; wr++ {
		cw.Add(1)
		go func(wr int) {
			defer cw.Done()
			for i := 0; i < creates/writers; i++ {
				name := fmt.Sprintf("w%d-%d", wr, i)
				sent.Store(name, time.Now())
				_, _ = c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			}
		}(wr)
	}
	cw.Wait()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cancel()
		<-done
	}
	report(b, "%-28s watchers=%d events=%-6d p50=%-9v p99=%v", "watch delivery", watchers, len(lat),
		lat.pct(0.5).Round(10*time.Microsecond), lat.pct(0.99).Round(10*time.Microsecond))
	b.ReportMetric(float64(lat.pct(0.5).Microseconds())/1000, "watch-p50-ms")
	b.ReportMetric(float64(lat.pct(0.99).Microseconds())/1000, "watch-p99-ms")
}

// BenchmarkListPods creates 10,000 pods and times LIST of all of them.
func BenchmarkListPods(b *testing.B) {
	s, err := runServer(b)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	cfg := *s.Config
	cfg.QPS, cfg.Burst = -1, 0
	c, err := newClient(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	ns := "pods"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1.0",
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
	}
	for i := 0; i < b.N; i++ {
		load(b, "create pod", 50, 10000, func(w, i int) error {
			_, err := c.CoreV1().Pods(ns).Create(ctx, pod(fmt.Sprintf("p-%d-%d", w, i)), metav1.CreateOptions{})
			return err
		})
		var n int
		load(b, "list 10000 pods", 1, 10, func(w, i int) error {
			l, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				n = len(l.Items)
			}
			return err
		})
		report(b, "pods listed: %d; RSS with 10,000 pods: %.1f MB", n, rssMB(s.PID()))
	}
}
