package objcache

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Sources are the caches of the objects pods take data from: ConfigMaps
// and Secrets (volumes, environment variables, image pull secrets).
type Sources struct {
	configMaps, secrets *Cache
}

// NewSources returns the caches, reading through client; watches unused
// for idle stop.
func NewSources(client kubernetes.Interface, idle time.Duration) *Sources {
	byName := func(name string, o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
	}
	return &Sources{
		configMaps: New(func(ns, name string) cache.ListerWatcher {
			cms := client.CoreV1().ConfigMaps(ns)
			return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
				ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					byName(name, &o)
					return cms.List(ctx, o)
				},
				WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
					byName(name, &o)
					return cms.Watch(ctx, o)
				},
			}, client)
		}, "configmaps", &corev1.ConfigMap{}, idle),
		secrets: New(func(ns, name string) cache.ListerWatcher {
			secrets := client.CoreV1().Secrets(ns)
			return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
				ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					byName(name, &o)
					return secrets.List(ctx, o)
				},
				WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
					byName(name, &o)
					return secrets.Watch(ctx, o)
				},
			}, client)
		}, "secrets", &corev1.Secret{}, idle),
	}
}

// ConfigMap returns the ConfigMap ns/name; callers must not modify it.
func (s *Sources) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	obj, err := s.configMaps.Get(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ConfigMap), nil
}

// Secret returns the Secret ns/name; callers must not modify it.
func (s *Sources) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	obj, err := s.secrets.Get(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Secret), nil
}

// Run expires idle watches until ctx ends, then stops them all.
func (s *Sources) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range []*Cache{s.configMaps, s.secrets} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Run(ctx)
		}()
	}
	wg.Wait()
}
