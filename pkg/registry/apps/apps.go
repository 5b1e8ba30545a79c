// Package apps assembles the storages of the apps/v1 group version.
package apps

import (
	appsv1 "k8s.io/api/apps/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/apps/controllerrevision"
	"github.com/skiff-k8s/skiff/pkg/registry/apps/daemonset"
	"github.com/skiff-k8s/skiff/pkg/registry/apps/deployment"
	"github.com/skiff-k8s/skiff/pkg/registry/apps/replicaset"
	"github.com/skiff-k8s/skiff/pkg/registry/apps/statefulset"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	controllerrevision.Resource,
	daemonset.Resource,
	deployment.Resource,
	replicaset.Resource,
	statefulset.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds apps/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(appsv1.SchemeGroupVersion, opts, resources...)
}
