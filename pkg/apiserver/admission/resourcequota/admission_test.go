package resourcequota

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestExceededQuota(t *testing.T) {
	q := resource.MustParse
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "q", ResourceVersion: "1"},
		Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": q("2"), "services.nodeports": q("1")}},
		Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"pods": q("2"), "services.nodeports": q("1")}, Used: corev1.ResourceList{"pods": q("1"), "services.nodeports": q("0")}}}
	client := fake.NewClientset(rq)
	// The fake store keeps resource versions; the plugin knows its own charge by a newer one.
	client.PrependReactor("update", "resourcequotas", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.UpdateAction).GetObject().(*corev1.ResourceQuota).DeepCopy()
		obj.ResourceVersion = "2"
		return true, obj, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	if err := f.Core().V1().ResourceQuotas().Informer().GetIndexer().Add(rq); err != nil {
		t.Fatal(err)
	}
	p, err := resourcequota.NewResourceQuota(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	p.SetDrainedNotification(stop)
	p.SetExternalKubeClientSet(client)
	p.SetExternalKubeInformerFactory(f)
	NewInitializer().Initialize(p)
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	create := func(name string, obj *corev1.Pod) error {
		a := admission.NewAttributesRecord(obj, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", name,
			corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return p.Validate(ctx, a, nil)
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	}
	if err := create("a", pod("a")); err != nil {
		t.Fatalf("within quota: %v", err)
	}
	err = create("b", pod("b"))
	want := `pods "b" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "np"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 1}, {Port: 2}}}}
	a := admission.NewAttributesRecord(svc, nil, corev1.SchemeGroupVersion.WithKind("Service"), "ns", "np",
		corev1.SchemeGroupVersion.WithResource("services"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
	err = p.Validate(context.Background(), a, nil)
	if want := `services "np" is forbidden: exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1`; err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
