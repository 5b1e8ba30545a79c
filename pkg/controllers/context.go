// Package controllers holds what skiff's controllers share, as upstream's pkg/controller
// does: the Context each controller is started with, work-queue workers, expectations,
// pod creation and deletion with events, and adoption and release by selector. Each
// controller lives in a folder of its own below this one; pkg/controllermanager starts
// them.
//
// A controller package exports
//
//	func Start(ctx context.Context, c *controllers.Context) error
//
// which registers the informers it needs (c.Informers…Informer()) and its event
// handlers, then launches its workers with c.Go. Start must not block and must not
// wait for caches: the manager starts the informers after every Start has returned,
// and workers wait with c.WaitForCacheSync. Every goroutine ends when ctx is done.
package controllers

import (
	"context"
	"net"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// Config is what the controllers are told about the cluster, from the server's flags.
type Config struct {
	// ClusterCIDR is --cluster-cidr, divided into a podCIDR per node.
	ClusterCIDR *net.IPNet
	// NodeCIDRMaskSize is the prefix length of each node's podCIDR (24).
	NodeCIDRMaskSize int
	// ServiceCIDR is --service-cidr.
	ServiceCIDR *net.IPNet
	// DataDir is <data-dir>: the local-path provisioner keeps volumes under
	// <data-dir>/storage.
	DataDir string
	// RootCAFile is the cluster CA published as kube-root-ca.crt in every namespace.
	RootCAFile string
	// ClusterSigningCert and ClusterSigningKey sign approved client certificates
	// (kubernetes.io/kube-apiserver-client-kubelet and kube-apiserver-client).
	ClusterSigningCert, ClusterSigningKey string
	// KubeletServingSigningCert and KubeletServingSigningKey sign approved
	// kubernetes.io/kubelet-serving requests (the CA the apiserver verifies
	// kubelets with); the cluster signing CA when empty.
	KubeletServingSigningCert, KubeletServingSigningKey string
}

// Context is what every controller is started with. Informers, Metadata informers
// and the event broadcaster are shared by all controllers of the manager.
type Context struct {
	Config
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	Metadata   metadata.Interface
	Informers  informers.SharedInformerFactory
	// MetadataInformers watch any resource as PartialObjectMetadata (the garbage
	// collector and quota use them for resources without typed informers).
	MetadataInformers metadatainformer.SharedInformerFactory
	Broadcaster       record.EventBroadcaster

	wg sync.WaitGroup
	// informersStarted is closed by InformersStarted, once the manager has
	// started the shared informers every controller's Start asked for.
	startOnce        sync.Once
	informersStarted chan struct{}
}

func (c *Context) startedCh() chan struct{} {
	c.startOnce.Do(func() { c.informersStarted = make(chan struct{}) })
	return c.informersStarted
}

// InformersStarted records that the manager has started c.Informers after every
// controller's Start: from then on the set of shared typed informers is known
// (see RunningInformer).
func (c *Context) InformersStarted() { close(c.startedCh()) }

// RunningInformer returns the shared typed informer of gvr (whose objects are of
// kind) when some controller uses one, and nil otherwise. It waits until the
// manager has started the shared informers, or ctx ends (nil).
//
// The garbage collector watches every resource; upstream's shares the
// controllers' typed informers where they exist rather than open a second watch
// and a second cache of the same objects. Resources no controller watches stay
// metadata-only, so that, say, every Secret is not cached whole for the collector.
func (c *Context) RunningInformer(ctx context.Context, gvr schema.GroupVersionResource, kind string) cache.SharedIndexInformer {
	if c.Informers == nil {
		return nil
	}
	select {
	case <-c.startedCh():
	case <-ctx.Done():
		return nil
	}
	obj, err := clientscheme.Scheme.New(gvr.GroupVersion().WithKind(kind))
	if err != nil {
		return nil // not a built-in type
	}
	// With a closed channel the factory does not wait: the keys are the types of
	// the informers it has started.
	closed := make(chan struct{})
	close(closed)
	if _, ok := c.Informers.WaitForCacheSync(closed)[reflect.TypeOf(obj)]; !ok {
		return nil
	}
	gi, err := c.Informers.ForResource(gvr)
	if err != nil {
		return nil
	}
	return gi.Informer()
}

// Recorder returns an event recorder that reports as component
// (for example "deployment-controller", as upstream names its sources).
func (c *Context) Recorder(component string) record.EventRecorder {
	return c.Broadcaster.NewRecorder(eventScheme, eventSource(component))
}

// Go runs fn in a goroutine the manager waits for at shutdown.
func (c *Context) Go(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// Wait blocks until every goroutine started with Go has returned.
func (c *Context) Wait() { c.wg.Wait() }

// WaitForCacheSync waits for the informers' caches, logging the controller's name
// when ctx ends first; it reports whether the caches synced.
func WaitForCacheSync(ctx context.Context, name string, synced ...cache.InformerSynced) bool {
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		klog.FromContext(ctx).Info("Caches did not sync before shutdown", "controller", name)
		return false
	}
	return true
}
