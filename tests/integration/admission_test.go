package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/skiff-k8s/skiff/tests/integration/framework"
)

const tokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// TestServiceAccountAdmission: a pod created through kubectl names the default service
// account and mounts the kube-api-access projected volume in every container, as
// `kubectl get pod -o yaml` shows.
func TestServiceAccountAdmission(t *testing.T) {
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		ns := newNamespace(t)
		manifest := `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  initContainers:
  - name: init
    image: busybox
  containers:
  - name: app
    image: nginx
  - name: sidecar
    image: busybox
    volumeMounts:
    - name: own
      mountPath: ` + tokenMountPath + `
  volumes:
  - name: own
    emptyDir: {}
`
		k.Stdin(manifest, "-n", ns, "apply", "-f", "-")
		var pod corev1.Pod
		if err := yaml.UnmarshalStrict([]byte(k.Run("-n", ns, "get", "pod", "web", "-o", "yaml")), &pod); err != nil {
			t.Fatal(err)
		}
		if pod.Spec.ServiceAccountName != "default" || pod.Spec.DeprecatedServiceAccount != "default" {
			t.Errorf("serviceAccountName %q, serviceAccount %q", pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount)
		}
		var vol *corev1.Volume
		for i, v := range pod.Spec.Volumes {
			if strings.HasPrefix(v.Name, "kube-api-access-") {
				vol = &pod.Spec.Volumes[i]
			}
		}
		if vol == nil || len(vol.Name) != len("kube-api-access-")+5 {
			t.Fatalf("no kube-api-access-xxxxx volume: %+v", pod.Spec.Volumes)
		}
		p := vol.Projected
		if p == nil || p.DefaultMode == nil || *p.DefaultMode != 420 || len(p.Sources) != 3 ||
			p.Sources[0].ServiceAccountToken == nil || p.Sources[0].ServiceAccountToken.Path != "token" ||
			*p.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
			p.Sources[1].ConfigMap == nil || p.Sources[1].ConfigMap.Name != "kube-root-ca.crt" ||
			len(p.Sources[1].ConfigMap.Items) != 1 || p.Sources[1].ConfigMap.Items[0].Key != "ca.crt" || p.Sources[1].ConfigMap.Items[0].Path != "ca.crt" ||
			p.Sources[2].DownwardAPI == nil || len(p.Sources[2].DownwardAPI.Items) != 1 ||
			p.Sources[2].DownwardAPI.Items[0].Path != "namespace" || p.Sources[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
			t.Errorf("projected volume %+v", p)
		}
		want := map[string]string{"init": vol.Name, "app": vol.Name, "sidecar": "own"}
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			var got []string
			for _, m := range c.VolumeMounts {
				if m.MountPath == tokenMountPath {
					got = append(got, m.Name)
					if m.Name == vol.Name && !m.ReadOnly {
						t.Errorf("container %s mounts the token read-write", c.Name)
					}
				}
			}
			if len(got) != 1 || got[0] != want[c.Name] {
				t.Errorf("container %s mounts %v at the token path, want %s", c.Name, got, want[c.Name])
			}
		}
	})
}

// TestServiceAccountAutomountOptOut: automountServiceAccountToken false on the pod or
// on its service account leaves the token out; the pod's own true wins.
func TestServiceAccountAutomountOptOut(t *testing.T) {
	ctx := ctxT(t)
	ns := newNamespace(t)
	no, yes := false, true
	if _, err := srv.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: "quiet"},
		AutomountServiceAccountToken: &no,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sa  string
		automount *bool
		mounted   bool
	}{
		{"pod-false", "", &no, false},
		{"sa-false", "quiet", nil, false},
		{"pod-true", "quiet", &yes, true},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Spec: corev1.PodSpec{
			ServiceAccountName:           tc.sa,
			AutomountServiceAccountToken: tc.automount,
			Containers:                   []corev1.Container{{Name: "c", Image: "busybox"}},
		}}
		got, err := srv.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		mounted := len(got.Spec.Volumes) == 1 && len(got.Spec.Containers[0].VolumeMounts) == 1
		if mounted != tc.mounted || (!tc.mounted && (len(got.Spec.Volumes) != 0 || len(got.Spec.Containers[0].VolumeMounts) != 0)) {
			t.Errorf("%s: volumes %+v mounts %+v, want mounted=%v", tc.name, got.Spec.Volumes, got.Spec.Containers[0].VolumeMounts, tc.mounted)
		}
		if want := tc.sa; want == "" && got.Spec.ServiceAccountName != "default" || want != "" && got.Spec.ServiceAccountName != want {
			t.Errorf("%s: serviceAccountName %q", tc.name, got.Spec.ServiceAccountName)
		}
	}
}

// TestServiceAccountMissing: a pod naming a service account that does not exist is
// refused with upstream's message, through client-go and kubectl.
func TestServiceAccountMissing(t *testing.T) {
	ctx := ctxT(t)
	ns := newNamespace(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "lost"}, Spec: corev1.PodSpec{
		ServiceAccountName: "ghost",
		Containers:         []corev1.Container{{Name: "c", Image: "busybox"}},
	}}
	_, err := srv.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	want := fmt.Sprintf(`pods "lost" is forbidden: error looking up service account %s/ghost: serviceaccount "ghost" not found`, ns)
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		out, err := k.Try(nil, "", "-n", ns, "run", "lost", "--image=busybox", "--overrides", `{"spec":{"serviceAccountName":"ghost"}}`)
		if err == nil || !strings.Contains(out, "Error from server (Forbidden): "+want) {
			t.Errorf("kubectl run: %v\n%s", err, out)
		}
	})
	// Once the account exists, the same pod is admitted.
	if _, err := srv.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ghost"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Errorf("pod with its service account created: %v", err)
	}
}

// TestMirrorPodServiceAccount: a mirror pod is not given a service account, and may
// not name one.
func TestMirrorPodServiceAccount(t *testing.T) {
	ctx := ctxT(t)
	ns := newNamespace(t)
	mirror := func(name, sa string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}},
			Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	got, err := srv.Client.CoreV1().Pods(ns).Create(ctx, mirror("plain", ""), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ServiceAccountName != "" || len(got.Spec.Volumes) != 0 {
		t.Errorf("mirror pod changed: serviceAccountName %q volumes %+v", got.Spec.ServiceAccountName, got.Spec.Volumes)
	}
	_, err = srv.Client.CoreV1().Pods(ns).Create(ctx, mirror("named", "default"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "a mirror pod may not reference service accounts") {
		t.Errorf("err = %v", err)
	}
}

// TestDefaultTolerationSeconds: pods tolerate not-ready and unreachable nodes for
// five minutes unless they say otherwise.
func TestDefaultTolerationSeconds(t *testing.T) {
	ctx := ctxT(t)
	ns := newNamespace(t)
	five := int64(5)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tol"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		Tolerations: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &five}},
	}}
	got, err := srv.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seconds := map[string]int64{}
	for _, tol := range got.Spec.Tolerations {
		if tol.Effect == corev1.TaintEffectNoExecute && tol.Operator == corev1.TolerationOpExists && tol.TolerationSeconds != nil {
			seconds[tol.Key] = *tol.TolerationSeconds
		}
	}
	if len(got.Spec.Tolerations) != 2 || seconds[corev1.TaintNodeNotReady] != 300 || seconds[corev1.TaintNodeUnreachable] != 5 {
		t.Errorf("tolerations %+v", got.Spec.Tolerations)
	}
	out := srv.Kubectl(t, "-n", ns, "get", "pod", "tol", "-o", "jsonpath={.spec.tolerations}")
	if !strings.Contains(out, `"key":"node.kubernetes.io/not-ready","operator":"Exists","tolerationSeconds":300`) {
		t.Errorf("kubectl shows tolerations %s", out)
	}
}

// TestResourceQuotaAdmission: once a quota has a status, a pod beyond its pod count is
// refused with upstream's message, through client-go and kubectl; a pod that does not
// state the cpu a quota limits is refused; the quota is charged at admission.
func TestResourceQuotaAdmission(t *testing.T) {
	ctx := ctxT(t)
	ns := newNamespace(t)
	c := srv.Client.CoreV1()
	q := resource.MustParse
	if _, err := c.ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "two-pods"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": q("2"), "requests.cpu": q("1")}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitQuotaUsed(t, ns, "two-pods", func() corev1.ResourceList { return corev1.ResourceList{"pods": q("0")} })

	_, err := c.Pods(ns).Create(ctx, testPod("no-cpu"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != `pods "no-cpu" is forbidden: failed quota: two-pods: must specify requests.cpu for: c` {
		t.Errorf("pod without cpu request: %v", err)
	}
	withCPU := func(name, cpu string) *corev1.Pod {
		p := testPod(name)
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: q(cpu)}
		return p
	}
	for _, name := range []string{"p1", "p2"} {
		if _, err := c.Pods(ns).Create(ctx, withCPU(name, "100m"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("%s within quota: %v", name, err)
		}
	}
	// Admission charged the quota itself: the third pod is refused at once.
	_, err = c.Pods(ns).Create(ctx, withCPU("p3", "100m"), metav1.CreateOptions{})
	want := `pods "p3" is forbidden: exceeded quota: two-pods, requested: pods=1, used: pods=2, limited: pods=2`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("third pod: %v\nwant %s", err, want)
	}
	srv.EachKubectl(t, func(t *testing.T, k *framework.Kubectl) {
		out, err := k.Try(nil, "", "-n", ns, "run", "p3", "--image=busybox", "--overrides", `{"spec":{"containers":[{"name":"p3","image":"busybox","resources":{"requests":{"cpu":"100m"}}}]}}`)
		if err == nil || !strings.Contains(out, "Error from server (Forbidden): "+want) {
			t.Errorf("kubectl run: %v\n%s", err, out)
		}
	})
	// Freeing a pod frees its share once the controller measures the quota again.
	if err := c.Pods(ns).Delete(ctx, "p1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		_, err := c.Pods(ns).Create(ctx, withCPU("p3", "100m"), metav1.CreateOptions{})
		return err
	})
	// A cpu request beyond what is left is refused on cpu alone.
	_, err = c.Pods(ns).Create(ctx, func() *corev1.Pod {
		p := withCPU("big", "900m")
		return p
	}(), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota: two-pods, requested: pods=1,requests.cpu=900m, used: pods=2,requests.cpu=200m, limited: pods=2,requests.cpu=1") {
		t.Errorf("big pod: %v", err)
	}
}
