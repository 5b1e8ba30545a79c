package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	apiextensionsoptions "k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	apiregistrationv1beta1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1beta1"
	aggregatorapiserver "k8s.io/kube-aggregator/pkg/apiserver"
	aggregatorscheme "k8s.io/kube-aggregator/pkg/apiserver/scheme"
	apiregistrationclient "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset/typed/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/controllers/autoregister"
)

// The servers are chained as upstream chains them: the aggregator in front (APIServices,
// aggregated discovery and OpenAPI), then skiff's built-in resources, then the
// apiextensions server (CRDs and custom resources), then 404.

// newExtensionsServer builds the apiextensions-apiserver from a copy of the main config.
func newExtensionsServer(gc *genericapiserver.RecommendedConfig, etcd *genericoptions.EtcdOptions, shared *sharedEtcd, inf informers.SharedInformerFactory) (*apiextensionsapiserver.CustomResourceDefinitions, error) {
	c := gc.Config
	c.PostStartHooks = map[string]genericapiserver.PostStartHookConfigEntry{}
	c.RESTOptionsGetter = nil
	e := *etcd
	e.StorageConfig.Codec = apiextensionsapiserver.Codecs.LegacyCodec(apiextensionsv1beta1.SchemeGroupVersion, apiextensionsv1.SchemeGroupVersion)
	e.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(apiextensionsv1beta1.SchemeGroupVersion, schema.GroupKind{Group: apiextensionsv1beta1.GroupName})
	e.SkipHealthEndpoints = true
	if err := e.ApplyTo(&c); err != nil {
		return nil, fmt.Errorf("apiextensions storage: %w", err)
	}
	var err error
	if c.RESTOptionsGetter, err = shared.restOptions(c.RESTOptionsGetter, &e); err != nil {
		return nil, fmt.Errorf("apiextensions storage: %w", err)
	}
	// Custom resources are cached whatever the sizes say, as NewCRDRESTOptionsGetter does.
	crdOptions := e
	crdOptions.WatchCacheSizes = nil
	crdGetter, err := shared.restOptions(apiextensionsoptions.NewCRDRESTOptionsGetter(e, c.ResourceTransformers, c.StorageObjectCountTracker), &crdOptions)
	if err != nil {
		return nil, fmt.Errorf("custom resource storage: %w", err)
	}
	c.MergedResourceConfig = apiextensionsapiserver.DefaultAPIResourceConfigSource()
	cfg := &apiextensionsapiserver.Config{
		GenericConfig: &genericapiserver.RecommendedConfig{Config: c, SharedInformerFactory: inf},
		ExtraConfig: apiextensionsapiserver.ExtraConfig{
			CRDRESTOptionsGetter: crdGetter,
			MasterCount:          1,
		},
	}
	s, err := cfg.Complete().New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, fmt.Errorf("create apiextensions server: %w", err)
	}
	return s, nil
}

// newAggregatorConfig copies the main config for kube-aggregator, before it is completed.
func newAggregatorConfig(gc *genericapiserver.RecommendedConfig, etcd *genericoptions.EtcdOptions, shared *sharedEtcd, inf informers.SharedInformerFactory, cfg Config) (*aggregatorapiserver.Config, error) {
	c := gc.Config
	c.PostStartHooks = map[string]genericapiserver.PostStartHookConfigEntry{}
	c.RESTOptionsGetter = nil
	c.SkipOpenAPIInstallation = true // the aggregator serves the merged OpenAPI itself
	e := *etcd
	e.StorageConfig.Codec = aggregatorscheme.Codecs.LegacyCodec(apiregistrationv1.SchemeGroupVersion, apiregistrationv1beta1.SchemeGroupVersion)
	e.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(apiregistrationv1.SchemeGroupVersion, schema.GroupKind{Group: apiregistrationv1beta1.GroupName})
	e.SkipHealthEndpoints = true
	if err := e.ApplyTo(&c); err != nil {
		return nil, fmt.Errorf("aggregator storage: %w", err)
	}
	var err error
	if c.RESTOptionsGetter, err = shared.restOptions(c.RESTOptionsGetter, &e); err != nil {
		return nil, fmt.Errorf("aggregator storage: %w", err)
	}
	c.MergedResourceConfig = aggregatorapiserver.DefaultAPIResourceConfigSource()
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 16,
	}
	return &aggregatorapiserver.Config{
		GenericConfig: &genericapiserver.RecommendedConfig{Config: c, SharedInformerFactory: inf},
		ExtraConfig: aggregatorapiserver.ExtraConfig{
			ProxyClientCertFile: cfg.PKI.ProxyClientCert,
			ProxyClientKeyFile:  cfg.PKI.ProxyClientKey,
			ServiceResolver:     aggregatorapiserver.NewClusterIPServiceResolver(inf.Core().V1().Services().Lister()),
			ProxyTransport:      transport,
			DisableRemoteAvailableConditionController: false,
		},
	}, nil
}

// apiServicePriority orders groups in discovery as upstream does.
type apiServicePriority struct{ group, version int32 }

var localPriorities = map[schema.GroupVersion]apiServicePriority{
	{Group: "", Version: "v1"}:                             {18000, 1},
	{Group: "apps", Version: "v1"}:                         {17800, 15},
	{Group: "events.k8s.io", Version: "v1"}:                {17750, 15},
	{Group: "authentication.k8s.io", Version: "v1"}:        {17700, 15},
	{Group: "authorization.k8s.io", Version: "v1"}:         {17600, 15},
	{Group: "autoscaling", Version: "v2"}:                  {17500, 30},
	{Group: "batch", Version: "v1"}:                        {17400, 15},
	{Group: "certificates.k8s.io", Version: "v1"}:          {17300, 15},
	{Group: "networking.k8s.io", Version: "v1"}:            {17200, 15},
	{Group: "policy", Version: "v1"}:                       {17100, 15},
	{Group: "rbac.authorization.k8s.io", Version: "v1"}:    {17000, 15},
	{Group: "storage.k8s.io", Version: "v1"}:               {16800, 15},
	{Group: "apiextensions.k8s.io", Version: "v1"}:         {16700, 15},
	{Group: "admissionregistration.k8s.io", Version: "v1"}: {16700, 15},
	{Group: "scheduling.k8s.io", Version: "v1"}:            {16600, 15},
	{Group: "coordination.k8s.io", Version: "v1"}:          {16500, 15},
	{Group: "node.k8s.io", Version: "v1"}:                  {16300, 15},
	{Group: "discovery.k8s.io", Version: "v1"}:             {16200, 15},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1"}: {16100, 21},
	{Group: "resource.k8s.io", Version: "v1"}:              {15900, 15},
	{Group: "storagemigration.k8s.io", Version: "v1"}:      {15800, 15},
	{Group: "apiregistration.k8s.io", Version: "v1"}:       {17900, 15},
	// served in-process here; metrics-server's APIService asks for these
	{Group: "metrics.k8s.io", Version: "v1beta1"}: {100, 100},
}

// newAggregator puts kube-aggregator in front of the built-in server and registers a
// local APIService for every group version the servers behind it serve, and for every
// CRD group version as CRDs come and go.
func newAggregator(c *aggregatorapiserver.Config, delegate *genericapiserver.GenericAPIServer, crd *apiextensionsapiserver.CustomResourceDefinitions) (*aggregatorapiserver.APIAggregator, error) {
	completed := c.Complete()
	agg, err := completed.NewWithDelegate(delegate)
	if err != nil {
		return nil, fmt.Errorf("create aggregator: %w", err)
	}
	client, err := apiregistrationclient.NewForConfig(completed.GenericConfig.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	auto := autoregister.NewAutoRegisterController(agg.APIRegistrationInformers.Apiregistration().V1().APIServices(), client)
	if m := completed.GenericConfig.AggregatedDiscoveryGroupManager; m != nil {
		for gv, p := range localPriorities {
			m.SetGroupVersionPriority(metav1.GroupVersion(gv), int(p.group), int(p.version))
		}
	}
	for _, path := range delegate.ListedPaths() {
		gv, ok := groupVersionOfPath(path)
		if !ok {
			continue
		}
		p, ok := localPriorities[gv]
		if !ok || gv == metricsGroupVersion {
			continue // metrics: below, unless metrics-server took it over
		}
		auto.AddAPIServiceToSyncOnStart(localAPIService(gv, p))
	}
	_, serveMetrics := localPriorities[metricsGroupVersion]
	serveMetrics = serveMetrics && slices.ContainsFunc(delegate.ListedPaths(), func(path string) bool {
		gv, ok := groupVersionOfPath(path)
		return ok && gv == metricsGroupVersion
	})
	crdReg := newCRDRegistration(crd.Informers.Apiextensions().V1().CustomResourceDefinitions(), auto)
	err = agg.GenericAPIServer.AddPostStartHook("skiff-apiservice-autoregistration", func(hc genericapiserver.PostStartHookContext) error {
		go crdReg.Run(hc.Done())
		go func() {
			// CRD group versions first, so the initial sync does not remove theirs.
			crdReg.WaitForInitialSync(hc.Done())
			if serveMetrics && !userOwnsMetricsAPIService(hc, client, agg.APIRegistrationInformers.Apiregistration().V1().APIServices().Lister()) {
				auto.AddAPIServiceToSyncOnStart(localAPIService(metricsGroupVersion, localPriorities[metricsGroupVersion]))
			}
			auto.Run(2, hc.Done())
		}()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return agg, nil
}

// groupVersionOfPath turns /api/v1 and /apis/<group>/<version> into a group version.
func groupVersionOfPath(p string) (schema.GroupVersion, bool) {
	if p == "/api/v1" {
		return schema.GroupVersion{Version: "v1"}, true
	}
	parts := strings.Split(strings.TrimPrefix(p, "/apis/"), "/")
	if !strings.HasPrefix(p, "/apis/") || len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return schema.GroupVersion{}, false
	}
	return schema.GroupVersion{Group: parts[0], Version: parts[1]}, true
}

// waitReady calls onReady once /readyz answers ok on the loopback client.
func (s *Server) waitReady(ctx context.Context) {
	client, err := kubernetes.NewForConfig(s.aggregator.GenericAPIServer.LoopbackClientConfig)
	if err != nil {
		return
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Raw()
			if err == nil && string(body) == "ok" {
				s.onReady()
				return
			}
		}
	}
}
