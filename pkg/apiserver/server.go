// Package apiserver assembles skiff's Kubernetes API server from k8s.io/apiserver:
// TLS serving, authentication, authorization, admission, API priority and fairness,
// OpenAPI, and the storage of every built-in resource over the etcd API kine serves.
//
//	srv, err := apiserver.New(apiserver.Config{…})
//	err = srv.Run(ctx) // serves until ctx is done
package apiserver

import (
	"context"
	"crypto"
	"fmt"
	"net"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	tokenunion "k8s.io/apiserver/pkg/authentication/token/union"
	"k8s.io/apiserver/pkg/endpoints/discovery/aggregated"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericregistry "k8s.io/apiserver/pkg/registry/generic"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	utilflowcontrol "k8s.io/apiserver/pkg/util/flowcontrol"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/compatibility"
	"k8s.io/component-base/version"
	aggregatorapiserver "k8s.io/kube-aggregator/pkg/apiserver"

	skiffadmission "github.com/skiff-k8s/skiff/pkg/apiserver/admission"
	"github.com/skiff-k8s/skiff/pkg/apiserver/scheme"
	"github.com/skiff-k8s/skiff/pkg/join"
	"github.com/skiff-k8s/skiff/pkg/pki"
	"github.com/skiff-k8s/skiff/pkg/serviceaccount"
)

// Config is what the server needs to know; pkg/cli fills it from flags.
type Config struct {
	BindAddress    net.IP
	Port           int
	PKI            *pki.Bundle
	EtcdEndpoints  []string
	ServiceCIDR    *net.IPNet
	NodePortRange  PortRange
	ClusterDomain  string
	AdvertiseIP    net.IP
	APIAudiences   []string
	ServiceAccount ServiceAccountConfig
	// JoinToken is the server's join token; its bootstrap token is stored as a
	// kube-system Secret at start (none when its password is empty).
	JoinToken join.Token
	// OnReady is called once the server serves.
	OnReady func()
	// ClusterDNS is --cluster-dns: the kube-system/kube-dns Service is
	// created at that address; nil when the cluster DNS is disabled.
	ClusterDNS net.IP
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Base, Size int }

// ServiceAccountConfig holds what issuing and checking service-account tokens needs.
type ServiceAccountConfig struct {
	Issuer  string
	KeyFile string
}

// Server is a configured API server ready to run.
type Server struct {
	aggregator *aggregatorapiserver.APIAggregator
	onReady    func()
	etcd       *sharedEtcd
}

// storagePrefixes keep upstream's etcd key layout, so tools that read etcd find the same keys.
var storagePrefixes = map[schema.GroupResource]string{
	{Resource: "replicationcontrollers"}:                "controllers",
	{Resource: "endpoints"}:                             "services/endpoints",
	{Resource: "nodes"}:                                 "minions",
	{Resource: "services"}:                              "services/specs",
	{Group: "extensions", Resource: "ingresses"}:        "ingress",
	{Group: "networking.k8s.io", Resource: "ingresses"}: "ingress",
}

// New builds the server; nothing listens until Run.
func New(cfg Config) (*Server, error) {
	if err := setFeatureDefaults(); err != nil {
		return nil, fmt.Errorf("feature gates: %w", err)
	}
	gc := genericapiserver.NewRecommendedConfig(scheme.Codecs)
	gc.EffectiveVersion = compatibility.NewEffectiveVersionFromString(version.Get().GitVersion, "", "")
	gc.MergedResourceConfig = resourceConfig()
	// Streams are long-running, as kube-apiserver has them: no request timeout
	// for watches, proxies, logs, exec, attach and port-forward.
	gc.LongRunningFunc = genericfilters.BasicLongRunningRequestCheck(
		sets.NewString("watch", "proxy"),
		sets.NewString("attach", "exec", "proxy", "log", "portforward"),
	)

	// Serving: TLS with our serving certificate, and a loopback client for ourselves.
	secure := genericoptions.NewSecureServingOptions().WithLoopback()
	secure.BindAddress = cfg.BindAddress
	secure.BindPort = cfg.Port
	secure.ServerCert.CertKey = genericoptions.CertKey{CertFile: cfg.PKI.ServingCert, KeyFile: cfg.PKI.ServingKey}
	if err := secure.ApplyTo(&gc.SecureServing, &gc.LoopbackClientConfig); err != nil {
		return nil, fmt.Errorf("secure serving: %w", err)
	}
	// The apiserver's own informers (authorization, admission, priority and
	// fairness …) watch through this client: on loopback, gzip only costs CPU
	// and a decompressor kept per watch, as for the in-server components.
	gc.LoopbackClientConfig.DisableCompression = true

	// Authentication: client certificates from the client CA, service-account tokens,
	// and anonymous access to the health and version endpoints only.
	clientCA, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", cfg.PKI.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	if err := gc.Authentication.ApplyClientCert(clientCA, gc.SecureServing); err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	requestHeader, err := newRequestHeaderConfig(cfg.PKI.RequestHeaderCA)
	if err != nil {
		return nil, err
	}
	if err := gc.Authentication.ApplyClientCert(requestHeader.CAContentProvider, gc.SecureServing); err != nil {
		return nil, fmt.Errorf("request-header CA: %w", err)
	}
	gc.Authentication.RequestHeaderConfig = requestHeader
	// The loopback client exists once secure serving is applied; the token
	// authenticator looks bound objects up through it.
	client, err := kubernetes.NewForConfig(gc.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	issuer, err := serviceaccount.NewIssuer(cfg.ServiceAccount.KeyFile, cfg.ServiceAccount.Issuer)
	if err != nil {
		return nil, err
	}
	// JOIN: bootstrap tokens (nodes joining with `skiff agent --token`) beside
	// service-account tokens.
	bootstrapTokens, startBootstrapTokens := newBootstrapTokenAuthenticator(client, cfg.APIAudiences)
	tokens := tokencache.New(tokenunion.New(serviceaccount.NewAuthenticator([]string{cfg.ServiceAccount.Issuer},
		[]crypto.PublicKey{issuer.PublicKey()}, cfg.APIAudiences, serviceaccount.ClientGetter(client)), bootstrapTokens),
		false, 10*time.Second, 0)
	authn, err := newAuthenticator(clientCA, requestHeader, tokens)
	if err != nil {
		return nil, err
	}
	gc.Authentication.Authenticator = authn
	gc.Authentication.APIAudiences = authenticator.Audiences(cfg.APIAudiences)
	inf := informers.NewSharedInformerFactory(client, 10*time.Minute)
	gc.Authorization.Authorizer, gc.RuleResolver = newAuthorizer(inf)
	genericapiserver.AuthorizeClientBearerToken(gc.LoopbackClientConfig, &gc.Authentication, &gc.Authorization)

	// Storage: the etcd3 backend over kine, protobuf on disk, the watch cache on.
	etcd := genericoptions.NewEtcdOptions(storagebackend.NewDefaultConfig("/registry", nil))
	etcd.StorageConfig.Transport.ServerList = cfg.EtcdEndpoints
	etcd.DefaultStorageMediaType = "application/vnd.kubernetes.protobuf"
	etcd.StorageConfig.CompactionInterval = 0 // kine compacts by itself
	etcd.StorageConfig.DBMetricPollInterval = 0
	etcd.EnableWatchCache = true
	// Events are many, short-lived and rarely watched: as upstream, they are served
	// from the store without a watch cache, which would hold every one in memory.
	etcd.WatchCacheSizes = []string{"events#0", "events.events.k8s.io#0"}
	factory := serverstorage.NewDefaultStorageFactory(etcd.StorageConfig, etcd.DefaultStorageMediaType,
		scheme.Codecs, serverstorage.NewDefaultResourceEncodingConfig(scheme.Scheme), gc.MergedResourceConfig, storagePrefixes)
	if err := etcd.ApplyWithStorageFactoryTo(factory, &gc.Config); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	// One etcd client for every resource's storage (see sharedEtcd).
	shared := &sharedEtcd{transport: etcd.StorageConfig.Transport}
	if gc.RESTOptionsGetter, err = shared.restOptions(gc.RESTOptionsGetter, etcd); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}

	// Clients of ourselves, for admission and priority-and-fairness informers.
	dyn, err := dynamic.NewForConfig(gc.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	gc.SharedInformerFactory = inf
	gc.ClientConfig = gc.LoopbackClientConfig
	admission := genericoptions.NewAdmissionOptions()
	admissionInitializers := skiffadmission.Configure(admission)
	if err := admission.ApplyTo(&gc.Config, inf, client, dyn, utilfeature.DefaultFeatureGate, gc.EffectiveVersion, admissionInitializers...); err != nil {
		return nil, fmt.Errorf("admission: %w", err)
	}
	gc.FlowControl = utilflowcontrol.New(inf, client.FlowcontrolV1(), gc.MaxRequestsInFlight+gc.MaxMutatingRequestsInFlight)

	// OpenAPI v2 and v3 from the generated definitions.
	namer := openapi.NewDefinitionNamer(scheme.External)
	definitions := sharedDefinitions()
	gc.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(definitions, namer)
	gc.OpenAPIConfig.Info.Title = "Kubernetes"
	gc.OpenAPIConfig.Info.Version = version.Get().GitVersion
	gc.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(definitions, namer)
	gc.OpenAPIV3Config.Info.Title = "Kubernetes"
	gc.OpenAPIV3Config.Info.Version = version.Get().GitVersion

	// One aggregated-discovery manager for the whole chain, as kube-apiserver has.
	gc.AggregatedDiscoveryGroupManager = aggregated.NewResourceManager("apis")
	crd, err := newExtensionsServer(gc, etcd, shared, inf)
	if err != nil {
		return nil, err
	}
	aggCfg, err := newAggregatorConfig(gc, etcd, shared, inf, cfg)
	if err != nil {
		return nil, err
	}
	// The built-in server's OpenAPI is installed below, v3 lazily (see lazyOpenAPIV3).
	gc.SkipOpenAPIInstallation = true
	gs, err := gc.Complete().New("skiff-apiserver", crd.GenericAPIServer)
	if err != nil {
		return nil, fmt.Errorf("create server: %w", err)
	}
	a := auth{request: authn, token: tokens, authorizer: gc.Authorization.Authorizer, rules: gc.RuleResolver, issuer: issuer}
	if err := installAPIs(gs, gc.RESTOptionsGetter, cfg, a); err != nil {
		return nil, err
	}
	gs.OpenAPIVersionedService = installLazyOpenAPIV2(gc.OpenAPIConfig, gs.Handler.GoRestfulContainer, gs.Handler.NonGoRestfulMux)
	installLazyOpenAPIV3(gc.OpenAPIV3Config, gs.Handler.GoRestfulContainer, gs.Handler.NonGoRestfulMux)
	agg, err := newAggregator(aggCfg, gs, crd)
	if err != nil {
		return nil, err
	}
	if err := addBootstrapHooks(agg.GenericAPIServer, cfg); err != nil {
		return nil, err
	}
	// JOIN: the CA bundles joining agents fetch, and the bootstrap tokens' informer.
	installCACerts(agg.GenericAPIServer, cfg.PKI.ServerCA, cfg.PKI.ClientCA)
	if err := agg.GenericAPIServer.AddPostStartHook("skiff-bootstrap-token-informer", func(hc genericapiserver.PostStartHookContext) error {
		startBootstrapTokens(hc.Done())
		return nil
	}); err != nil {
		return nil, err
	}
	return &Server{aggregator: agg, onReady: cfg.OnReady, etcd: shared}, nil
}

// Run serves until ctx is done, then shuts down cleanly.
func (s *Server) Run(ctx context.Context) error {
	prepared, err := s.aggregator.PrepareRun()
	if err != nil {
		return err
	}
	if s.onReady != nil {
		go s.waitReady(ctx)
	}
	defer s.etcd.Close()
	return prepared.Run(ctx)
}

func resourceConfig() *serverstorage.ResourceConfig {
	rc := serverstorage.NewResourceConfig()
	rc.EnableVersions(scheme.GroupVersions...)
	return rc
}

// installAPIs installs every served group.
func installAPIs(gs *genericapiserver.GenericAPIServer, opts genericregistry.RESTOptionsGetter, cfg Config, a auth) error {
	groups, err := buildGroups(opts, cfg, a)
	if err != nil {
		return err
	}
	for _, g := range groups {
		info := genericapiserver.NewDefaultAPIGroupInfo(g.Version.Group, scheme.Scheme, scheme.ParameterCodec, scheme.Codecs)
		info.VersionedResourcesStorageMap[g.Version.Version] = g.Storage
		for _, v := range g.AlsoServedAt { // older versions still served, e.g. autoscaling/v1
			info.VersionedResourcesStorageMap[v] = g.Storage
		}
		if g.Version.Group == "" {
			if err := gs.InstallLegacyAPIGroup("/api", &info); err != nil {
				return fmt.Errorf("install core/v1: %w", err)
			}
			continue
		}
		if err := gs.InstallAPIGroup(&info); err != nil {
			return fmt.Errorf("install %s: %w", g.Version, err)
		}
	}
	return nil
}
