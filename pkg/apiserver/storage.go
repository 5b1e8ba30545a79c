package apiserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	etcdkube "go.etcd.io/etcd/client/v3/kubernetes"
	"google.golang.org/grpc/metadata"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	genericfeatures "k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/registry/generic"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/storage"
	cacherstorage "k8s.io/apiserver/pkg/storage/cacher"
	"k8s.io/apiserver/pkg/storage/etcd3"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/apiserver/pkg/storage/value/encrypt/identity"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// The storage of every resource talks to kine through one etcd client.
//
// k8s.io/apiserver's storage factory dials a client of its own for each resource
// (its newETCD3Client): some seventy gRPC connections to a kine on the same machine,
// each with a reader, a writer and a keepalive goroutine and their buffers at both
// ends — about 400 goroutines and 10 MB of an idle server, for nothing a local
// socket needs. sharedEtcd builds the same etcd3 store and watch cache on one
// client instead.
//
// Each resource keeps a gRPC watch stream of its own (the etcd client groups
// watches into streams by their context's outgoing metadata, which resourceStore
// sets per resource), as it has with a client per resource: progress
// notifications, which the watch cache asks for before serving a consistent
// list, are answered per stream once all of its watches are synced, so sharing a
// stream would make one resource wait for another's.
type sharedEtcd struct {
	transport storagebackend.TransportConfig

	mu     sync.Mutex
	client *etcdkube.Client
}

// Upstream's dial settings for its etcd clients (storagebackend/factory).
const (
	etcdDialTimeout      = 20 * time.Second
	etcdKeepAliveTime    = 30 * time.Second
	etcdKeepAliveTimeout = 10 * time.Second
)

func (s *sharedEtcd) getClient() (*etcdkube.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	c, err := etcdkube.New(clientv3.Config{
		Endpoints:            s.transport.ServerList,
		DialTimeout:          etcdDialTimeout,
		DialKeepAliveTime:    etcdKeepAliveTime,
		DialKeepAliveTimeout: etcdKeepAliveTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", s.transport.ServerList, err)
	}
	// Request latencies per resource, as upstream's storage records them.
	c.KV = etcd3.NewETCDLatencyTracker(c.KV)
	s.client = c
	return c, nil
}

// Close closes the shared client, once every storage is destroyed.
func (s *sharedEtcd) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
}

// shares reports whether the storage of transport can use the shared client:
// the same servers, and no TLS (kine listens on a local socket; a TLS transport
// keeps upstream's client per resource).
func (s *sharedEtcd) shares(t storagebackend.TransportConfig) bool {
	if t.CertFile != "" || t.KeyFile != "" || t.TrustedCAFile != "" || t.EgressLookup != nil {
		return false
	}
	return fmt.Sprint(t.ServerList) == fmt.Sprint(s.transport.ServerList)
}

// rawStorage is generic.NewRawStorage on the shared client: the etcd3 store with
// the storage config's codec, transformer and lease settings.
func (s *sharedEtcd) rawStorage(c *storagebackend.ConfigForResource, newFunc, newListFunc func() runtime.Object, resourcePrefix string) (storage.Interface, factory.DestroyFunc, error) {
	if c.Type != storagebackend.StorageTypeUnset && c.Type != storagebackend.StorageTypeETCD3 || !s.shares(c.Transport) {
		return generic.NewRawStorage(c, newFunc, newListFunc, resourcePrefix)
	}
	client, err := s.getClient()
	if err != nil {
		return nil, nil, err
	}
	transformer := c.Transformer
	if transformer == nil {
		transformer = identity.NewEncryptCheckTransformer()
	}
	versioner := storage.APIObjectVersioner{}
	decoder := etcd3.NewDefaultDecoder(c.Codec, versioner)
	if utilfeature.DefaultFeatureGate.Enabled(genericfeatures.AllowUnsafeMalformedObjectDeletion) {
		transformer = etcd3.WithCorruptObjErrorHandlingTransformer(transformer)
		decoder = etcd3.WithCorruptObjErrorHandlingDecoder(decoder)
	}
	// No compactor: kine compacts by itself (CompactionInterval is 0). The
	// store's codec serves its watches; its reads and updates use decoder.
	store, err := etcd3.New(client, nil, watchCodec{c.Codec}, newFunc, newListFunc, c.Prefix, resourcePrefix, c.GroupResource, transformer, c.LeaseManagerConfig, decoder, versioner)
	if err != nil {
		return nil, nil, err
	}
	var st storage.Interface = &resourceStore{Interface: store, stream: c.GroupResource.String() + resourcePrefix}
	if utilfeature.DefaultFeatureGate.Enabled(genericfeatures.AllowUnsafeMalformedObjectDeletion) {
		st = etcd3.NewStoreWithUnsafeCorruptObjectDeletion(st, c.GroupResource)
	}
	var once sync.Once
	return st, func() { once.Do(store.Close) }, nil
}

// resourceStore gives the watches of one resource their own gRPC stream on the
// shared client (see sharedEtcd).
type resourceStore struct {
	storage.Interface
	stream string
}

// streamMetadata is the outgoing gRPC metadata key the etcd client groups a
// resource's watches by.
const streamMetadata = "skiff-watch-stream"

func (r *resourceStore) streamContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, streamMetadata, r.stream)
}

func (r *resourceStore) Watch(ctx context.Context, key string, opts storage.ListOptions) (watch.Interface, error) {
	return r.Interface.Watch(r.streamContext(ctx), key, opts)
}

func (r *resourceStore) RequestWatchProgress(ctx context.Context) error {
	return r.Interface.RequestWatchProgress(r.streamContext(ctx))
}

// withCacher is genericregistry.StorageWithCacher over rawStorage: the same
// watch cache in front of the shared-client store.
func (s *sharedEtcd) withCacher() generic.StorageDecorator {
	return func(c *storagebackend.ConfigForResource, resourcePrefix string, keyFunc func(obj runtime.Object) (string, error),
		newFunc, newListFunc func() runtime.Object, getAttrs storage.AttrFunc, triggers storage.IndexerFuncs, indexers *cache.Indexers) (storage.Interface, factory.DestroyFunc, error) {
		raw, destroyRaw, err := s.rawStorage(c, newFunc, newListFunc, resourcePrefix)
		if err != nil {
			return nil, nil, err
		}
		cacher, err := cacherstorage.NewCacherFromConfig(cacherstorage.Config{
			Storage:             raw,
			Versioner:           storage.APIObjectVersioner{},
			GroupResource:       c.GroupResource,
			EventsHistoryWindow: c.EventsHistoryWindow,
			ResourcePrefix:      resourcePrefix,
			KeyFunc:             keyFunc,
			NewFunc:             newFunc,
			NewListFunc:         newListFunc,
			GetAttrsFunc:        getAttrs,
			IndexerFuncs:        triggers,
			Indexers:            indexers,
			Codec:               c.Codec,
		})
		if err != nil {
			destroyRaw()
			return nil, nil, err
		}
		delegator := cacherstorage.NewCacheDelegator(cacher, raw)
		var once sync.Once
		return delegator, func() {
			once.Do(func() {
				delegator.Stop()
				cacher.Stop()
				destroyRaw()
			})
		}, nil
	}
}

// withoutCacher is generic.UndecoratedStorage over rawStorage.
func (s *sharedEtcd) withoutCacher() generic.StorageDecorator {
	return func(c *storagebackend.ConfigForResource, resourcePrefix string, _ func(obj runtime.Object) (string, error),
		newFunc, newListFunc func() runtime.Object, _ storage.AttrFunc, _ storage.IndexerFuncs, _ *cache.Indexers) (storage.Interface, factory.DestroyFunc, error) {
		return s.rawStorage(c, newFunc, newListFunc, resourcePrefix)
	}
}

// restOptions wraps a RESTOptionsGetter made from etcd's options so that its
// storages use the shared client, with the watch cache exactly where the
// options put one (everywhere but the resources sized 0).
func (s *sharedEtcd) restOptions(getter generic.RESTOptionsGetter, etcd *genericoptions.EtcdOptions) (generic.RESTOptionsGetter, error) {
	sizes, err := genericoptions.ParseWatchCacheSizes(etcd.WatchCacheSizes)
	if err != nil {
		return nil, err
	}
	return &sharedRESTOptions{getter: getter, shared: s, watchCache: etcd.EnableWatchCache, sizes: sizes}, nil
}

type sharedRESTOptions struct {
	getter     generic.RESTOptionsGetter
	shared     *sharedEtcd
	watchCache bool
	sizes      map[schema.GroupResource]int
}

func (o *sharedRESTOptions) GetRESTOptions(resource schema.GroupResource, example runtime.Object) (generic.RESTOptions, error) {
	opts, err := o.getter.GetRESTOptions(resource, example)
	if err != nil {
		return opts, err
	}
	if size, ok := o.sizes[resource]; !o.watchCache || ok && size <= 0 {
		opts.Decorator = o.shared.withoutCacher()
	} else {
		opts.Decorator = o.shared.withCacher()
	}
	klog.V(5).InfoS("Storage on the shared etcd client", "resource", resource)
	return opts, nil
}

// featureDefaults are the feature gates skiff's apiserver sets differently from
// kube-apiserver 1.37's defaults, for memory.
//
// ListFromCacheSnapshot (beta, on upstream) keeps a copy-on-write snapshot of
// each watch cache for every event of its history window (at least 75 s), so
// that paginated and exact-resourceVersion LISTs are served from the cache:
// after 5,000 pods roll out on 1,000 nodes those snapshots hold some 30 MB of
// tree nodes until the history turns over. Off, such LISTs read kine, as
// kube-apiserver did before 1.34; every answer is the same.
var featureDefaults = map[string]bool{
	string(genericfeatures.ListFromCacheSnapshot): false,
}

func setFeatureDefaults() error {
	return utilfeature.DefaultMutableFeatureGate.SetFromMap(featureDefaults)
}
