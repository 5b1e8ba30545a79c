package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

func podWithResources(name, req, lim string) *corev1.Pod {
	p := testPod(name)
	if req != "" {
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(req), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(lim), corev1.ResourceMemory: resource.MustParse("128Mi")},
		}
	}
	return p
}

// waitQuotaUsed polls until the quota's status.hard mirrors spec.hard and
// status.used equals want (quantities compared by value).
func waitQuotaUsed(t *testing.T, ns, name string, want func() corev1.ResourceList) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		q, err := srv.Client.CoreV1().ResourceQuotas(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(q.Status.Hard) != len(q.Spec.Hard) {
			return fmt.Errorf("status.hard %v, spec.hard %v", q.Status.Hard, q.Spec.Hard)
		}
		w := want()
		for k, v := range w {
			got, ok := q.Status.Used[k]
			if !ok || got.Cmp(v) != 0 {
				return fmt.Errorf("%s used %s, want %s (status.used %v)", k, got.String(), v.String(), q.Status.Used)
			}
		}
		if len(q.Status.Used) != len(q.Spec.Hard) {
			return fmt.Errorf("status.used %v does not cover spec.hard %v", q.Status.Used, q.Spec.Hard)
		}
		return nil
	})
}

// TestResourceQuotaUsage: status.used counts the namespace's objects, pod requests
// and limits, node ports and storage, count/<resource>.<group>, and follows
// deletions; a BestEffort-scoped quota counts only best-effort pods, a
// NotBestEffort-scoped one the others. As upstream, objects are created once the
// quotas have a status: until then the ResourceQuota admission plugin refuses what
// they limit; and cpu and memory are limited in a NotBestEffort quota, since a quota
// of them requires every pod it matches to state them.
func TestResourceQuotaUsage(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	c := srv.Client.CoreV1()
	hard := corev1.ResourceList{}
	for k, v := range map[corev1.ResourceName]string{
		"pods": "10", "configmaps": "10", "secrets": "10", "services": "5", "services.nodeports": "5", "services.loadbalancers": "2",
		"persistentvolumeclaims": "3", "requests.storage": "10Gi", "resourcequotas": "3", "replicationcontrollers": "2",
		"count/deployments.apps": "3", "count/pods": "10",
	} {
		hard[k] = resource.MustParse(v)
	}
	if _, err := c.ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Spec: corev1.ResourceQuotaSpec{Hard: hard}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "besteffort"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("5")}, Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	computeHard := corev1.ResourceList{}
	for k, v := range map[corev1.ResourceName]string{"requests.cpu": "4", "requests.memory": "4Gi", "limits.cpu": "8", "limits.memory": "8Gi"} {
		computeHard[k] = resource.MustParse(v)
	}
	if _, err := c.ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute"},
		Spec: corev1.ResourceQuotaSpec{Hard: computeHard, Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"all", "besteffort", "compute"} {
		waitQuotaUsed(t, ns, name, func() corev1.ResourceList { return nil })
	}
	createConfigMap(t, ns, "cm1", nil)
	createConfigMap(t, ns, "cm2", nil)
	if _, err := c.Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*corev1.Pod{podWithResources("p1", "100m", "200m"), podWithResources("p2", "100m", "200m"), podWithResources("be", "", "")} {
		if _, err := c.Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "np"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "x"},
		Ports: []corev1.ServicePort{{Name: "a", Port: 80, TargetPort: intstr.FromInt32(80)}, {Name: "b", Port: 81, TargetPort: intstr.FromInt32(81)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	zero := int32(0)
	if _, err := srv.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: appsv1.DeploymentSpec{
		Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1.0"}}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Other controllers may add objects of their own (kube-root-ca.crt): count
	// ConfigMaps and Secrets as the API lists them.
	listed := func() (cms, secrets int64) {
		cl, err := c.ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sl, err := c.Secrets(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return int64(len(cl.Items)), int64(len(sl.Items))
	}
	q := resource.MustParse
	want := func() corev1.ResourceList {
		cms, secrets := listed()
		return corev1.ResourceList{
			"pods": q("3"), "count/pods": q("3"), "configmaps": *resource.NewQuantity(cms, resource.DecimalSI),
			"secrets": *resource.NewQuantity(secrets, resource.DecimalSI), "services": q("1"), "services.nodeports": q("2"),
			"services.loadbalancers": q("0"), "persistentvolumeclaims": q("1"),
			"requests.storage": q("1Gi"), "resourcequotas": q("3"), "replicationcontrollers": q("0"),
			"count/deployments.apps": q("1"),
		}
	}
	waitQuotaUsed(t, ns, "all", want)
	waitQuotaUsed(t, ns, "besteffort", func() corev1.ResourceList { return corev1.ResourceList{"pods": q("1")} })
	waitQuotaUsed(t, ns, "compute", func() corev1.ResourceList {
		return corev1.ResourceList{"requests.cpu": q("200m"), "requests.memory": q("128Mi"), "limits.cpu": q("400m"), "limits.memory": q("256Mi")}
	})
	if err := c.ConfigMaps(ns).Delete(ctx, "cm1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Pods(ns).Delete(ctx, "p1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitQuotaUsed(t, ns, "all", func() corev1.ResourceList {
		w := want()
		w["pods"], w["count/pods"] = q("2"), q("2")
		return w
	})
	waitQuotaUsed(t, ns, "compute", func() corev1.ResourceList {
		return corev1.ResourceList{"requests.cpu": q("100m"), "requests.memory": q("64Mi"), "limits.cpu": q("200m"), "limits.memory": q("128Mi")}
	})
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		mustContain(t, k.Run("describe", "quota", "all", "-n", ns), "count/deployments.apps", "configmaps")
		mustContain(t, k.Run("describe", "quota", "compute", "-n", ns), "requests.cpu", "100m")
	})
}
