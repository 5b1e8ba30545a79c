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
	return &Sources{
		configMaps: New(byName(client, func(ns string) listWatcher[*corev1.ConfigMapList] {
			return client.CoreV1().ConfigMaps(ns)
		}), "configmaps", &corev1.ConfigMap{}, idle),
		secrets: New(byName(client, func(ns string) listWatcher[*corev1.SecretList] {
			return client.CoreV1().Secrets(ns)
		}), "secrets", &corev1.Secret{}, idle),
	}
}

// listWatcher is what a typed client of one namespace's objects offers.
type listWatcher[L runtime.Object] interface {
	List(ctx context.Context, o metav1.ListOptions) (L, error)
	Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error)
}

// byName makes the list-watch of one object, selected by its name.
func byName[L runtime.Object](client kubernetes.Interface, in func(ns string) listWatcher[L]) func(ns, name string) cache.ListerWatcher {
	return func(ns, name string) cache.ListerWatcher {
		c := in(ns)
		sel := fields.OneTermEqualSelector("metadata.name", name).String()
		return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = sel
				return c.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = sel
				return c.Watch(ctx, o)
			},
		}, client)
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
