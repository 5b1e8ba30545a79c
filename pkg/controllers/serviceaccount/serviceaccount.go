// Package serviceaccount is the service account controller: every active namespace
// has a ServiceAccount named default, created with the namespace and re-created when
// deleted, as upstream's serviceaccount controller does. Namespaces being terminated
// are left alone.
package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// Name is the controller's name in the manager.
const Name = "serviceaccount"

// DefaultServiceAccountName is the account every namespace gets.
const DefaultServiceAccountName = "default"

// workers is upstream's --concurrent-serviceaccount-token-syncs default.
const workers = 5

type controller struct {
	client          kubernetes.Interface
	queue           controllers.Queue
	namespaces      corelisters.NamespaceLister
	serviceAccounts corelisters.ServiceAccountLister
	synced          []cache.InformerSynced
}

// Start registers the controller's informers and launches its workers.
func Start(ctx context.Context, c *controllers.Context) error {
	e := newController(c.Client, c.Informers.Core().V1().Namespaces().Informer(),
		c.Informers.Core().V1().ServiceAccounts().Informer())
	c.Go(func() { controllers.RunWorkers(ctx, Name, e.queue, workers, e.sync, e.synced...) })
	return nil
}

func newController(client kubernetes.Interface, namespaces, serviceAccounts cache.SharedIndexInformer) *controller {
	e := &controller{
		client:          client,
		queue:           controllers.NewQueue(Name),
		namespaces:      corelisters.NewNamespaceLister(namespaces.GetIndexer()),
		serviceAccounts: corelisters.NewServiceAccountLister(serviceAccounts.GetIndexer()),
		synced:          []cache.InformerSynced{namespaces.HasSynced, serviceAccounts.HasSynced},
	}
	// The queue holds namespace names.
	_, _ = namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { controllers.Enqueue(e.queue, obj) },
		UpdateFunc: func(_, cur interface{}) { controllers.Enqueue(e.queue, cur) },
	})
	_, _ = serviceAccounts.AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultServiceAccountName {
				e.queue.Add(sa.Namespace)
			}
		},
	})
	return e
}

// sync makes sure the namespace name has its default ServiceAccount.
func (e *controller) sync(ctx context.Context, name string) error {
	ns, err := e.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive {
		// Creating in a terminating namespace is refused, and would be deleted anyway.
		return nil
	}
	if _, err := e.serviceAccounts.ServiceAccounts(name).Get(DefaultServiceAccountName); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccountName}}
	_, err = e.client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	return err
}
