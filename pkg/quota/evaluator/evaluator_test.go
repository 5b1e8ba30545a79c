package evaluator

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

func listing(objs ...runtime.Object) generic.ListFuncByNamespace {
	return func(string) ([]runtime.Object, error) { return objs, nil }
}

func TestPodUsageAndScopes(t *testing.T) {
	burstable := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
	}}}}}
	bestEffort := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	done := bestEffort.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	grace := int64(0)
	gone := bestEffort.DeepCopy()
	gone.DeletionTimestamp, gone.DeletionGracePeriodSeconds = &metav1.Time{Time: time.Now().Add(-time.Minute)}, &grace
	e := NewPodEvaluator(listing(burstable, bestEffort, done, gone), time.Now)

	names := []corev1.ResourceName{"pods", "count/pods", "requests.cpu", "cpu", "requests.memory", "limits.cpu", "limits.memory"}
	stats, err := e.UsageStats(quota.UsageStatsOptions{Resources: names})
	if err != nil {
		t.Fatal(err)
	}
	// count/pods counts every stored pod, pods only those not finished.
	want := map[corev1.ResourceName]string{"pods": "2", "count/pods": "4", "requests.cpu": "250m", "cpu": "250m", "requests.memory": "64Mi", "limits.cpu": "500m", "limits.memory": "0"}
	for n, w := range want {
		if got := stats.Used[n]; got.Cmp(resource.MustParse(w)) != 0 {
			t.Errorf("%s = %s, want %s", n, got.String(), w)
		}
	}

	stats, err = e.UsageStats(quota.UsageStatsOptions{Resources: []corev1.ResourceName{"pods"}, Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}})
	if err != nil {
		t.Fatal(err)
	}
	if got := stats.Used["pods"]; got.Value() != 1 {
		t.Errorf("BestEffort pods = %s, want 1", got.String())
	}
	sel := &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}
	burstable.Spec.PriorityClassName = "high"
	stats, _ = e.UsageStats(quota.UsageStatsOptions{Resources: []corev1.ResourceName{"pods"}, ScopeSelector: sel})
	if got := stats.Used["pods"]; got.Value() != 1 {
		t.Errorf("PriorityClass In (high) pods = %s, want 1", got.String())
	}
}

func TestServiceAndPVCUsage(t *testing.T) {
	f := false
	svcs := NewServiceEvaluator(listing(
		&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 1}, {Port: 2}}}},
		&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, AllocateLoadBalancerNodePorts: &f, Ports: []corev1.ServicePort{{Port: 1, NodePort: 30001}, {Port: 2}}}},
		&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 1}}}},
	))
	stats, err := svcs.UsageStats(quota.UsageStatsOptions{Resources: []corev1.ResourceName{"services", "services.nodeports", "services.loadbalancers"}})
	if err != nil {
		t.Fatal(err)
	}
	for n, w := range map[corev1.ResourceName]int64{"services": 3, "services.nodeports": 3, "services.loadbalancers": 1} {
		if got := stats.Used[n]; got.Value() != w {
			t.Errorf("%s = %s, want %d", n, got.String(), w)
		}
	}
	gold := "gold"
	pvcs := NewPersistentVolumeClaimEvaluator(listing(&corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &gold,
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}}}}))
	names := pvcs.MatchingResources([]corev1.ResourceName{"requests.storage", "gold.storageclass.storage.k8s.io/requests.storage", "pods"})
	if len(names) != 2 {
		t.Fatalf("matching resources %v", names)
	}
	stats, _ = pvcs.UsageStats(quota.UsageStatsOptions{Resources: names})
	if got := stats.Used["gold.storageclass.storage.k8s.io/requests.storage"]; got.Cmp(resource.MustParse("2Gi")) != 0 {
		t.Errorf("gold storage = %s", got.String())
	}
}
