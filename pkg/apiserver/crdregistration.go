package apiserver

import (
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdinformers "k8s.io/apiextensions-apiserver/pkg/client/informers/externalversions/apiextensions/v1"
	crdlisters "k8s.io/apiextensions-apiserver/pkg/client/listers/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// apiServiceRegistrar is the part of kube-aggregator's autoregister controller we use.
type apiServiceRegistrar interface {
	AddAPIServiceToSync(in *apiregistrationv1.APIService)
	RemoveAPIServiceToSync(name string)
}

// crdRegistration keeps one local APIService per group version that CRDs serve, so
// custom resources appear in aggregated discovery.
type crdRegistration struct {
	lister   crdlisters.CustomResourceDefinitionLister
	synced   cache.InformerSynced
	reg      apiServiceRegistrar
	queue    workqueue.TypedRateLimitingInterface[schema.GroupVersion]
	initial  chan struct{}
	pending  int
	informer cache.SharedIndexInformer
}

func newCRDRegistration(inf crdinformers.CustomResourceDefinitionInformer, reg apiServiceRegistrar) *crdRegistration {
	c := &crdRegistration{
		lister:  inf.Lister(),
		synced:  inf.Informer().HasSynced,
		reg:     reg,
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[schema.GroupVersion](), workqueue.TypedRateLimitingQueueConfig[schema.GroupVersion]{Name: "crd-apiservice-registration"}),
		initial: make(chan struct{}),
	}
	enqueue := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
		if !ok {
			return
		}
		for _, v := range crd.Spec.Versions {
			c.queue.Add(schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name})
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(old, cur any) { enqueue(old); enqueue(cur) },
		DeleteFunc: enqueue,
	})
	return c
}

// Run processes the queue until stop closes.
func (c *crdRegistration) Run(stop <-chan struct{}) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(stop, c.synced) {
		return
	}
	// The initial set: everything listed now, synced before autoregistration starts.
	crds, err := c.lister.List(labels.Everything())
	if err == nil {
		for _, crd := range crds {
			for _, v := range crd.Spec.Versions {
				_ = c.sync(schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name})
			}
		}
	}
	close(c.initial)
	go wait.Until(func() {
		for c.process() {
		}
	}, time.Second, stop)
	<-stop
}

// WaitForInitialSync blocks until the CRDs present at start are registered.
func (c *crdRegistration) WaitForInitialSync(stop <-chan struct{}) {
	select {
	case <-c.initial:
	case <-stop:
	}
}

func (c *crdRegistration) process() bool {
	gv, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(gv)
	if err := c.sync(gv); err != nil {
		c.queue.AddRateLimited(gv)
		return true
	}
	c.queue.Forget(gv)
	return true
}

func (c *crdRegistration) sync(gv schema.GroupVersion) error {
	name := gv.Version + "." + gv.Group
	crds, err := c.lister.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if crd.Spec.Group != gv.Group {
			continue
		}
		for i, v := range crd.Spec.Versions {
			if v.Name != gv.Version || !v.Served {
				continue
			}
			c.reg.AddAPIServiceToSync(&apiregistrationv1.APIService{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: apiregistrationv1.APIServiceSpec{
					Group: gv.Group, Version: gv.Version,
					GroupPriorityMinimum: 1000, // CRDs sort after the built-in groups
					VersionPriority:      int32(100 - i),
				},
			})
			return nil
		}
	}
	c.reg.RemoveAPIServiceToSync(name)
	return nil
}
