// Package rootcacertpublisher publishes the cluster CA in every namespace as the
// ConfigMap kube-root-ca.crt (key ca.crt), which projected service-account volumes
// mount so that pods can verify the apiserver, as upstream's root-ca-cert-publisher
// does. An edited or deleted ConfigMap is put back.
package rootcacertpublisher

import (
	"context"
	"fmt"
	"maps"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

const (
	// Name is the controller's name in the manager.
	Name = "root-ca-cert-publisher"
	// ConfigMapName is the ConfigMap published in every namespace.
	ConfigMapName = "kube-root-ca.crt"
	// DescriptionAnnotation and Description are upstream's note on the ConfigMap.
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
	workers = 1
)

type publisher struct {
	client     kubernetes.Interface
	rootCA     []byte
	queue      controllers.Queue
	configMaps corelisters.ConfigMapLister
	synced     []cache.InformerSynced
}

// Start reads the root CA from c.RootCAFile, registers the informers and launches
// the worker.
func Start(ctx context.Context, c *controllers.Context) error {
	ca, err := os.ReadFile(c.RootCAFile)
	if err != nil {
		return fmt.Errorf("read root CA: %w", err)
	}
	p := newPublisher(c.Client, ca, c.Informers.Core().V1().Namespaces().Informer(),
		c.Informers.Core().V1().ConfigMaps().Informer())
	c.Go(func() { controllers.RunWorkers(ctx, Name, p.queue, workers, p.sync, p.synced...) })
	return nil
}

func newPublisher(client kubernetes.Interface, rootCA []byte, namespaces, configMaps cache.SharedIndexInformer) *publisher {
	p := &publisher{
		client:     client,
		rootCA:     rootCA,
		queue:      controllers.NewQueue("root_ca_cert_publisher"),
		configMaps: corelisters.NewConfigMapLister(configMaps.GetIndexer()),
		synced:     []cache.InformerSynced{namespaces.HasSynced, configMaps.HasSynced},
	}
	// The queue holds namespace names.
	_, _ = namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { controllers.Enqueue(p.queue, obj) },
		UpdateFunc: func(_, cur interface{}) {
			if ns, ok := cur.(*corev1.Namespace); ok && ns.Status.Phase == corev1.NamespaceActive {
				p.queue.Add(ns.Name)
			}
		},
	})
	onConfigMap := func(obj interface{}) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == ConfigMapName {
			p.queue.Add(cm.Namespace)
		}
	}
	_, _ = configMaps.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur interface{}) { onConfigMap(cur) },
		DeleteFunc: onConfigMap,
	})
	return p
}

// sync makes the namespace's kube-root-ca.crt hold the root CA.
func (p *publisher) sync(ctx context.Context, namespace string) error {
	data := map[string]string{"ca.crt": string(p.rootCA)}
	cm, err := p.configMaps.ConfigMaps(namespace).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		_, err = p.client.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName,
				Annotations: map[string]string{DescriptionAnnotation: Description}},
			Data: data,
		}, metav1.CreateOptions{})
		// A namespace gone or terminating will not take it: do not retry.
		if apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if maps.Equal(cm.Data, data) && cm.Annotations[DescriptionAnnotation] != "" {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = data
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[DescriptionAnnotation] = Description
	_, err = p.client.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{})
	return err
}
