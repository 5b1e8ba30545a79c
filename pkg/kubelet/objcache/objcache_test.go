package objcache

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func TestCache(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"k": "v1"},
	})
	var lists atomic.Int32
	c := New(func(ns, name string) cache.ListerWatcher {
		// The fake client cannot stream a watch list: the reflector lists.
		return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
				lists.Add(1)
				return client.CoreV1().ConfigMaps(ns).List(ctx, o)
			},
			WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
				return client.CoreV1().ConfigMaps(ns).Watch(ctx, o)
			},
		}, client)
	}, "configmaps", &corev1.ConfigMap{}, time.Hour)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()

	get := func() *corev1.ConfigMap {
		t.Helper()
		obj, err := c.Get(ctx, "ns", "cfg")
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*corev1.ConfigMap)
	}
	if cm := get(); cm.Data["k"] != "v1" {
		t.Fatalf("first get: %+v", cm.Data)
	}
	// Many reads, one list.
	for i := 0; i < 10; i++ {
		get()
	}
	if n := lists.Load(); n != 1 {
		t.Errorf("%d lists for 11 reads of one object", n)
	}
	// An update reaches the cache through the watch.
	if _, err := client.CoreV1().ConfigMaps("ns").Update(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"k": "v2"},
	}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get().Data["k"] != "v2" {
		if time.Now().After(deadline) {
			t.Fatal("the update did not reach the cache")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A missing object is NotFound, named as upstream's kubelet names it.
	_, err := c.Get(ctx, "ns", "nope")
	if !apierrors.IsNotFound(err) || err.Error() != `configmap "nope" not found` {
		t.Errorf("missing object: %v", err)
	}
	if c.Len() != 2 {
		t.Errorf("%d watches, want 2", c.Len())
	}
	// Watches unused for the idle time stop; a later Get starts one again.
	c.sweep(time.Now().Add(time.Hour))
	if c.Len() != 0 {
		t.Errorf("%d watches after the idle sweep", c.Len())
	}
	if cm := get(); cm.Data["k"] != "v2" {
		t.Errorf("get after the sweep: %+v", cm.Data)
	}
	// Run stops everything when its context ends, and Get then fails.
	cancel()
	<-done
	if c.Len() != 0 {
		t.Errorf("%d watches after Run ended", c.Len())
	}
	if _, err := c.Get(context.Background(), "ns", "cfg"); err == nil {
		t.Error("Get after Run ended succeeded")
	}
}

// A list that keeps failing is reported within the sync timeout, not waited on.
func TestCacheCanceled(t *testing.T) {
	c := New(func(ns, name string) cache.ListerWatcher {
		return &cache.ListWatch{
			ListFunc: func(metav1.ListOptions) (runtime.Object, error) {
				return nil, apierrors.NewForbidden(corev1.Resource("secrets"), name, nil)
			},
			WatchFunc: func(metav1.ListOptions) (watch.Interface, error) { return watch.NewEmptyWatch(), nil },
		}
	}, "secrets", &corev1.Secret{}, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Get(ctx, "ns", "s"); err == nil {
		t.Fatal("Get of an object that cannot be listed succeeded")
	}
	runCtx, stop := context.WithCancel(context.Background())
	stop()
	c.Run(runCtx) // stops the failing watch
}

func TestSources(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "pem"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pull"}, Data: map[string][]byte{".dockerconfigjson": []byte("{}")}},
	)
	src := NewSources(client, time.Hour)
	done := make(chan struct{})
	go func() { defer close(done); src.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if cm, err := src.ConfigMap(ctx, "ns", "kube-root-ca.crt"); err != nil || cm.Data["ca.crt"] != "pem" {
		t.Errorf("configmap: %+v %v", cm, err)
	}
	if s, err := src.Secret(ctx, "ns", "pull"); err != nil || string(s.Data[".dockerconfigjson"]) != "{}" {
		t.Errorf("secret: %+v %v", s, err)
	}
	if _, err := src.Secret(ctx, "other", "pull"); !apierrors.IsNotFound(err) || err.Error() != `secret "pull" not found` {
		t.Errorf("secret of another namespace: %v", err)
	}
}
