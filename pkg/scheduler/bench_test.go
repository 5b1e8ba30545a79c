package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// BenchmarkDecide measures one scheduling decision (filter, score, assume) on
// 1,000 nodes already holding 5,000 pods, without the API: the scheduler's own cost
// per pod, which bounds its throughput when the apiserver keeps up.
func BenchmarkDecide(b *testing.B) {
	var nodes []*corev1.Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, node(fmt.Sprintf("n-%04d", i), "32", "128Gi"))
	}
	s, _ := testScheduler(b, nodes...)
	mk := func(i int) *corev1.Pod {
		return pod(fmt.Sprintf("p-%d", i), "100m", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("128Mi")
		})
	}
	for i := 0; i < 5000; i++ {
		onNode(s, mk(i), nodes[i%len(nodes)].Name)
	}
	pods := make([]*corev1.Pod, b.N)
	for i := range pods {
		pods[i] = mk(5000 + i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if host, _, _ := s.schedule(pods[i]); host == "" {
			b.Fatal("not scheduled")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
}
