// Package core assembles the storages of the core ("") group, version v1.
package core

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/core/configmap"
	"github.com/skiff-k8s/skiff/pkg/registry/core/namespace"
	"github.com/skiff-k8s/skiff/pkg/registry/core/service"
	"github.com/skiff-k8s/skiff/pkg/registry/core/serviceaccount"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds core/v1.
func Group(opts *store.Options) (*store.Group, error) {
	services, err := service.New(opts)
	if err != nil {
		return nil, err
	}
	g, err := store.BuildGroup(corev1.SchemeGroupVersion, opts,
		services,
		serviceaccount.Resource,
		namespace.Resource,
		configmap.Resource,
	)
	if err != nil {
		return nil, err
	}
	// serviceaccounts/token looks up pods, secrets and nodes in the built group.
	serviceaccount.InstallToken(g, opts)
	return g, nil
}
