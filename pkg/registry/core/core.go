// Package core assembles the storages of the core ("") group, version v1.
package core

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-k8s/skiff/pkg/registry/core/componentstatus"
	"github.com/skiff-k8s/skiff/pkg/registry/core/configmap"
	"github.com/skiff-k8s/skiff/pkg/registry/core/endpoints"
	"github.com/skiff-k8s/skiff/pkg/registry/core/event"
	"github.com/skiff-k8s/skiff/pkg/registry/core/limitrange"
	"github.com/skiff-k8s/skiff/pkg/registry/core/namespace"
	"github.com/skiff-k8s/skiff/pkg/registry/core/node"
	"github.com/skiff-k8s/skiff/pkg/registry/core/persistentvolume"
	"github.com/skiff-k8s/skiff/pkg/registry/core/persistentvolumeclaim"
	"github.com/skiff-k8s/skiff/pkg/registry/core/pod"
	"github.com/skiff-k8s/skiff/pkg/registry/core/podtemplate"
	"github.com/skiff-k8s/skiff/pkg/registry/core/replicationcontroller"
	"github.com/skiff-k8s/skiff/pkg/registry/core/resourcequota"
	"github.com/skiff-k8s/skiff/pkg/registry/core/secret"
	"github.com/skiff-k8s/skiff/pkg/registry/core/service"
	"github.com/skiff-k8s/skiff/pkg/registry/core/serviceaccount"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are core/v1's plain stores; their scheme functions are registered at
// init. Pods and services are assembled in Group and register themselves at init.
var resources = []*store.Resource{
	podtemplate.Resource,
	replicationcontroller.Resource,
	node.Resource,
	endpoints.Resource,
	event.Resource,
	secret.Resource,
	limitrange.Resource,
	resourcequota.Resource,
	persistentvolume.Resource,
	persistentvolumeclaim.Resource,
	serviceaccount.Resource,
	namespace.Resource,
	configmap.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds core/v1.
func Group(opts *store.Options) (*store.Group, error) {
	services, err := service.New(opts)
	if err != nil {
		return nil, err
	}
	kubelets := pod.NewKubeletConnector(opts.KubeletClient)
	pdbs, err := pod.NewPDBChecker(opts.RESTOptions)
	if err != nil {
		return nil, err
	}
	g, err := store.BuildGroup(corev1.SchemeGroupVersion, opts,
		append([]*store.Resource{pod.NewResource(kubelets, pdbs), services}, resources...)...)
	if err != nil {
		return nil, err
	}
	componentStatuses, err := componentstatus.NewREST(opts)
	if err != nil {
		return nil, err
	}
	g.Storage["componentstatuses"] = componentStatuses
	// Pod subresources reach kubelets through the nodes storage; bindings is pods/binding
	// at the top level.
	kubelets.Nodes = g.Storage["nodes"].(rest.Getter)
	g.Storage["nodes/proxy"] = node.NewProxyREST(kubelets)
	g.Storage["bindings"] = &pod.LegacyBindingREST{Binding: g.Storage["pods/binding"].(*pod.BindingREST)}
	// serviceaccounts/token looks up pods, secrets and nodes in the built group.
	serviceaccount.InstallToken(g, opts)
	return g, nil
}
