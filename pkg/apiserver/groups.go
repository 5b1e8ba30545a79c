package apiserver

import (
	genericregistry "k8s.io/apiserver/pkg/registry/generic"

	"github.com/skiff-k8s/skiff/pkg/registry"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

func buildGroups(opts genericregistry.RESTOptionsGetter, cfg Config) ([]*store.Group, error) {
	return registry.Groups(&store.Options{
		RESTOptions:  opts,
		ServiceCIDR:  cfg.ServiceCIDR,
		NodePortBase: cfg.NodePortRange.Base,
		NodePortSize: cfg.NodePortRange.Size,
		APIAudiences: cfg.APIAudiences,
	})
}
