// Package networking assembles the storages of the networking/v1 group version.
package networking

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-k8s/skiff/pkg/registry/networking/ingress"
	"github.com/skiff-k8s/skiff/pkg/registry/networking/ingressclass"
	"github.com/skiff-k8s/skiff/pkg/registry/networking/ipaddress"
	"github.com/skiff-k8s/skiff/pkg/registry/networking/networkpolicy"
	"github.com/skiff-k8s/skiff/pkg/registry/networking/servicecidr"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	ingress.Resource,
	ingressclass.Resource,
	networkpolicy.Resource,
	ipaddress.Resource,
	servicecidr.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds networking/v1.
func Group(opts *store.Options) (*store.Group, error) {
	g, err := store.BuildGroup(networkingv1.SchemeGroupVersion, opts, resources...)
	if err != nil {
		return nil, err
	}
	if classes, ok := g.Storage[ingressclass.Resource.Name].(rest.Lister); ok {
		ingress.DefaultClass = defaultIngressClass(classes)
	}
	return g, nil
}

// defaultIngressClass reads the IngressClasses from their store to pick the class of a new
// Ingress that names none.
func defaultIngressClass(classes rest.Lister) func(ctx context.Context) string {
	return func(ctx context.Context) string {
		obj, err := classes.List(genericapirequest.WithNamespace(ctx, ""), &metainternalversion.ListOptions{})
		if err != nil {
			return ""
		}
		return ingressclass.DefaultClass(obj.(*networkingv1.IngressClassList).Items)
	}
}
