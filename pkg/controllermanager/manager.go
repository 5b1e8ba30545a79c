// Package controllermanager runs skiff's controllers inside `skiff server` as one
// API client with its own identity (system:kube-controller-manager), leader-elected
// through the Lease kube-system/kube-controller-manager, sharing one set of informers
// and one event broadcaster, as upstream's kube-controller-manager does.
package controllermanager

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/controllers"
	"github.com/skiff-k8s/skiff/pkg/leader"
)

// LeaseName is upstream's lease for the controller manager.
const LeaseName = "kube-controller-manager"

// Config configures the manager.
type Config struct {
	controllers.Config
	// Kubeconfig holds the manager's client credentials.
	Kubeconfig string
	// Disabled names controllers not to run.
	Disabled []string
	// Identity is the holder name in the lease (default leader.Identity()).
	Identity string
}

// RESTConfig loads a component's kubeconfig with the rate limits a control-plane
// component on the same machine as its apiserver can afford.
func RESTConfig(kubeconfig, userAgent string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	// On loopback, compression only costs: CPU on both ends, and a gzip reader of
	// 32 KB kept for every watch.
	cfg.DisableCompression = true
	// Protobuf for built-in types, as upstream's components default to: a fraction of
	// JSON's decoding work and garbage. (Dynamic and metadata clients set their own.)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.UserAgent = userAgent
	return cfg, nil
}

// Run runs the controllers while this process leads, until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	rc, err := RESTConfig(cfg.Kubeconfig, "skiff/controller-manager")
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	id := cfg.Identity
	if id == "" {
		id = leader.Identity()
	}
	logger := klog.FromContext(ctx)
	return leader.Run(ctx, client, LeaseName, id, func(ctx context.Context) {
		if err := lead(ctx, cfg, rc, client); err != nil {
			logger.Error(err, "Controller manager stopped")
		}
	})
}

// lead starts every enabled controller and the shared informers, then waits for
// ctx to end and for every controller goroutine to return.
func lead(ctx context.Context, cfg Config, rc *rest.Config, client kubernetes.Interface) error {
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	meta, err := metadata.NewForConfig(rc)
	if err != nil {
		return err
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	c := &controllers.Context{
		Config:            cfg.Config,
		RESTConfig:        rc,
		Client:            client,
		Dynamic:           dyn,
		Metadata:          meta,
		Informers:         informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(controllers.CacheTransform)),
		MetadataInformers: metadatainformer.NewSharedInformerFactoryWithOptions(meta, 0, metadatainformer.WithTransform(controllers.StripManagedFields)),
		Broadcaster:       broadcaster,
	}
	logger := klog.FromContext(ctx)
	for _, ctl := range all {
		if slices.Contains(cfg.Disabled, ctl.name) {
			logger.Info("Controller disabled", "controller", ctl.name)
			continue
		}
		if err := ctl.start(klog.NewContext(ctx, logger.WithValues("controller", ctl.name)), c); err != nil {
			logger.Error(err, "Controller did not start", "controller", ctl.name)
		}
	}
	c.Informers.Start(ctx.Done())
	c.InformersStarted()
	c.MetadataInformers.Start(ctx.Done())
	<-ctx.Done()
	c.Wait()
	c.Informers.Shutdown()
	c.MetadataInformers.Shutdown()
	return nil
}
