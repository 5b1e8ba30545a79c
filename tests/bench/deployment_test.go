package bench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkDeployment measures a 1,000-replica Deployment on simulated nodes: the
// time from its create until its status reports Available with 1,000 available
// replicas (deployment, replicaset and scheduler controllers, the simulated
// kubelets and the apiserver all at work), and the server's RSS afterwards.
// SKIFF_BENCH_SIM_NODES overrides the node count (default 1000).
func BenchmarkDeployment(b *testing.B) {
	const replicas = 1000
	nodes := 1000
	if v, err := strconv.Atoi(os.Getenv("SKIFF_BENCH_SIM_NODES")); err == nil && v > 0 {
		nodes = v
	}
	for i := 0; i < b.N; i++ {
		s := runSim(b, nodes)
		func() {
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			c := s.Client
			waitNodes(ctx, b, c, nodes)
			ns := "deploybench"
			if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			d := benchDeployment("big", replicas)
			t0 := time.Now()
			if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			var last appsv1.DeploymentStatus
			for {
				cur, err := c.AppsV1().Deployments(ns).Get(ctx, "big", metav1.GetOptions{})
				if err == nil {
					last = cur.Status
					if available(cur) && cur.Status.AvailableReplicas == replicas {
						break
					}
				}
				if ctx.Err() != nil {
					b.Fatalf("deployment not available in time: %+v", last)
				}
				time.Sleep(50 * time.Millisecond)
			}
			el := time.Since(t0)
			rss := rssMB(s.PID())
			report(b, "deployment of %d replicas on %d simulated nodes: Available with %d available replicas in %v",
				replicas, nodes, replicas, el.Round(time.Millisecond))
			report(b, "server RSS after the rollout: %.1f MB", rss)
			b.ReportMetric(el.Seconds(), "s-to-available")
			b.ReportMetric(rss, "MB-rss")
		}()
	}
}

func available(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func benchDeployment(name string, replicas int32) *appsv1.Deployment {
	l := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "c", Image: "pause",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("100m"),
						corev1.ResourceMemory: resource.MustParse("128Mi"),
					}},
				}}}}}}
}
