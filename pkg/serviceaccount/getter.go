package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// NewGetter looks objects up in the informer caches of factory and, when the cache
// does not have them yet (a token requested right after its service account was
// created), asks the API through client. The caller starts the factory.
func NewGetter(client kubernetes.Interface, factory informers.SharedInformerFactory) Getter {
	core := factory.Core().V1()
	return &cachedGetter{client: client,
		sas: core.ServiceAccounts().Lister(), pods: core.Pods().Lister(),
		secrets: core.Secrets().Lister(), nodes: core.Nodes().Lister()}
}

type cachedGetter struct {
	client  kubernetes.Interface
	sas     corelisters.ServiceAccountLister
	pods    corelisters.PodLister
	secrets corelisters.SecretLister
	nodes   corelisters.NodeLister
}

func (g *cachedGetter) GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	if o, err := g.sas.ServiceAccounts(namespace).Get(name); !apierrors.IsNotFound(err) {
		return o, err
	}
	return g.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (g *cachedGetter) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	if o, err := g.pods.Pods(namespace).Get(name); !apierrors.IsNotFound(err) {
		return o, err
	}
	return g.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (g *cachedGetter) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if o, err := g.secrets.Secrets(namespace).Get(name); !apierrors.IsNotFound(err) {
		return o, err
	}
	return g.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (g *cachedGetter) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	if o, err := g.nodes.Get(name); !apierrors.IsNotFound(err) {
		return o, err
	}
	return g.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

// ClientGetter looks every object up through the API; simple, for tests and tools.
func ClientGetter(client kubernetes.Interface) Getter { return clientGetter{client} }

type clientGetter struct{ client kubernetes.Interface }

func (g clientGetter) GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return g.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (g clientGetter) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return g.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (g clientGetter) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return g.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (g clientGetter) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	return g.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}
