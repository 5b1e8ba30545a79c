package serviceaccount

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// newPlugin returns the plugin with inCache in its lister and live in its client only.
func newPlugin(t *testing.T, inCache []*corev1.ServiceAccount, live ...runtime.Object) (*Plugin, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(live...)
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	for _, sa := range inCache {
		if err := f.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(sa); err != nil {
			t.Fatal(err)
		}
	}
	p := New()
	p.SetExternalKubeClientSet(client)
	p.SetExternalKubeInformerFactory(f)
	p.SetReadyFunc(nil)
	p.generateName = func(base string) string { return base + "abcde" }
	p.retryInterval = func() time.Duration { return time.Millisecond }
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	return p, client
}

func sa(name string, mutate ...func(*corev1.ServiceAccount)) *corev1.ServiceAccount {
	s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func pod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "a"}, {Name: "b"}},
		}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func attrs(p *corev1.Pod, op admission.Operation, sub string) admission.Attributes {
	var old runtime.Object
	if op == admission.Update {
		old = p.DeepCopy()
	}
	return admission.NewAttributesRecord(p, old, corev1.SchemeGroupVersion.WithKind("Pod"), p.Namespace, p.Name,
		corev1.SchemeGroupVersion.WithResource("pods"), sub, op, nil, false, nil)
}

func admit(t *testing.T, p *Plugin, a admission.Attributes) error {
	t.Helper()
	if err := p.Admit(context.Background(), a, nil); err != nil {
		return err
	}
	return p.Validate(context.Background(), a, nil)
}

func TestDefaultsAndMounts(t *testing.T) {
	p, _ := newPlugin(t, []*corev1.ServiceAccount{sa("default", func(s *corev1.ServiceAccount) {
		s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
	})})
	pd := pod()
	if err := admit(t, p, attrs(pd, admission.Create, "")); err != nil {
		t.Fatal(err)
	}
	if pd.Spec.ServiceAccountName != "default" || pd.Spec.DeprecatedServiceAccount != "default" {
		t.Errorf("service account %q / %q", pd.Spec.ServiceAccountName, pd.Spec.DeprecatedServiceAccount)
	}
	if len(pd.Spec.Volumes) != 1 || pd.Spec.Volumes[0].Name != "kube-api-access-abcde" {
		t.Fatalf("volumes %+v", pd.Spec.Volumes)
	}
	proj := pd.Spec.Volumes[0].Projected
	if proj == nil || *proj.DefaultMode != 420 || len(proj.Sources) != 3 ||
		proj.Sources[0].ServiceAccountToken.Path != "token" || *proj.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
		proj.Sources[1].ConfigMap.Name != "kube-root-ca.crt" || proj.Sources[1].ConfigMap.Items[0] != (corev1.KeyToPath{Key: "ca.crt", Path: "ca.crt"}) ||
		proj.Sources[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" || proj.Sources[2].DownwardAPI.Items[0].Path != "namespace" {
		t.Errorf("projected volume %+v", proj)
	}
	want := corev1.VolumeMount{Name: "kube-api-access-abcde", ReadOnly: true, MountPath: DefaultAPITokenMountPath}
	for _, c := range append(pd.Spec.InitContainers, pd.Spec.Containers...) {
		if len(c.VolumeMounts) != 1 || !reflect.DeepEqual(c.VolumeMounts[0], want) {
			t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
		}
	}
	if len(pd.Spec.ImagePullSecrets) != 1 || pd.Spec.ImagePullSecrets[0].Name != "pull" {
		t.Errorf("imagePullSecrets %+v", pd.Spec.ImagePullSecrets)
	}
}

func TestExistingMountAndVolumeKept(t *testing.T) {
	p, _ := newPlugin(t, []*corev1.ServiceAccount{sa("default")})
	pd := pod(func(p *corev1.Pod) {
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: DefaultAPITokenMountPath}}
		p.Spec.Volumes = []corev1.Volume{{Name: "mine"}, {Name: "kube-api-access-xyz12"}}
	})
	if err := admit(t, p, attrs(pd, admission.Create, "")); err != nil {
		t.Fatal(err)
	}
	if len(pd.Spec.Volumes) != 2 {
		t.Errorf("volumes %+v", pd.Spec.Volumes)
	}
	if m := pd.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].Name != "mine" {
		t.Errorf("container a mounts %+v", m)
	}
	if m := pd.Spec.Containers[1].VolumeMounts; len(m) != 1 || m[0].Name != "kube-api-access-xyz12" {
		t.Errorf("container b mounts %+v", m)
	}
}

func TestAutomountOptOut(t *testing.T) {
	no, yes := false, true
	for _, tc := range []struct {
		name      string
		pod, sa   *bool
		wantMount bool
	}{
		{"default", nil, nil, true},
		{"pod false", &no, nil, false},
		{"sa false", nil, &no, false},
		{"pod true wins", &yes, &no, true},
		{"pod false wins", &no, &yes, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newPlugin(t, []*corev1.ServiceAccount{sa("robot", func(s *corev1.ServiceAccount) { s.AutomountServiceAccountToken = tc.sa })})
			pd := pod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "robot"; p.Spec.AutomountServiceAccountToken = tc.pod })
			if err := admit(t, p, attrs(pd, admission.Create, "")); err != nil {
				t.Fatal(err)
			}
			if got := len(pd.Spec.Volumes) == 1; got != tc.wantMount {
				t.Errorf("mounted %v, want %v (%+v)", got, tc.wantMount, pd.Spec.Volumes)
			}
		})
	}
}

func TestMissingServiceAccount(t *testing.T) {
	p, client := newPlugin(t, nil)
	gets := 0
	client.PrependReactor("get", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
		gets++
		return false, nil, nil
	})
	pd := pod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "ghost" })
	err := admit(t, p, attrs(pd, admission.Create, ""))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `error looking up service account ns/ghost: serviceaccount "ghost" not found`) {
		t.Errorf("err = %v", err)
	}
	if gets != 1 {
		t.Errorf("%d live lookups of a named account, want 1", gets)
	}
	// The default account is asked for again: its controller may be about to create it.
	gets = 0
	if err := admit(t, p, attrs(pod(), admission.Create, "")); !apierrors.IsForbidden(err) {
		t.Errorf("err = %v", err)
	}
	if gets != defaultLookups {
		t.Errorf("%d live lookups of default, want %d", gets, defaultLookups)
	}
}

func TestLiveLookupFallback(t *testing.T) {
	p, _ := newPlugin(t, nil, sa("fresh"))
	pd := pod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "fresh" })
	if err := admit(t, p, attrs(pd, admission.Create, "")); err != nil {
		t.Fatal(err)
	}
	if len(pd.Spec.Volumes) != 1 {
		t.Errorf("volumes %+v", pd.Spec.Volumes)
	}
}

func TestDeprecatedServiceAccountRead(t *testing.T) {
	p, _ := newPlugin(t, []*corev1.ServiceAccount{sa("old")})
	pd := pod(func(p *corev1.Pod) { p.Spec.DeprecatedServiceAccount = "old" })
	if err := admit(t, p, attrs(pd, admission.Create, "")); err != nil {
		t.Fatal(err)
	}
	if pd.Spec.ServiceAccountName != "old" {
		t.Errorf("serviceAccountName %q", pd.Spec.ServiceAccountName)
	}
}

func TestMirrorPods(t *testing.T) {
	mirror := func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }
	for _, tc := range []struct {
		name    string
		mutate  func(*corev1.Pod)
		wantErr string
	}{
		{"plain", func(*corev1.Pod) {}, ""},
		{"service account", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "default" }, "a mirror pod may not reference service accounts"},
		{"secret volume", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
		}, "a mirror pod may not reference secrets"},
		{"secret env", func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{}}}
		}, "a mirror pod may not reference secrets"},
		{"token projection", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "t", VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()}}}
		}, "a mirror pod may not use ServiceAccountToken volume projections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newPlugin(t, []*corev1.ServiceAccount{sa("default")})
			pd := pod(mirror, tc.mutate)
			before := pd.DeepCopy()
			err := admit(t, p, attrs(pd, admission.Create, ""))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if pd.Spec.ServiceAccountName != "" || len(pd.Spec.Volumes) != len(before.Spec.Volumes) {
					t.Errorf("mirror pod changed: %+v", pd.Spec)
				}
				return
			}
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestEphemeralContainers(t *testing.T) {
	p, _ := newPlugin(t, []*corev1.ServiceAccount{sa("default")})
	pd := pod(func(p *corev1.Pod) {
		p.Spec.ServiceAccountName = "default"
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}
	})
	if err := admit(t, p, attrs(pd, admission.Update, "ephemeralcontainers")); err != nil {
		t.Fatal(err)
	}
	if len(pd.Spec.Volumes) != 0 || len(pd.Spec.EphemeralContainers[0].VolumeMounts) != 0 {
		t.Errorf("an update mutated the pod: %+v", pd.Spec)
	}
	pd.Spec.ServiceAccountName = ""
	if err := admit(t, p, attrs(pd, admission.Update, "ephemeralcontainers")); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "no service account specified for pod ns/p") {
		t.Errorf("err = %v", err)
	}
	// Other updates and subresources are not looked at.
	if err := admit(t, p, attrs(pd, admission.Update, "")); err != nil {
		t.Error(err)
	}
	if err := admit(t, p, attrs(pd, admission.Update, "status")); err != nil {
		t.Error(err)
	}
}
