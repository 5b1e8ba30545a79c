// Package registry lists every group skiff serves and builds their storages.
// Each group lives in pkg/registry/<group>, each resource in a folder below it.
package registry

import (
	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration"
	"github.com/skiff-k8s/skiff/pkg/registry/apps"
	"github.com/skiff-k8s/skiff/pkg/registry/authentication"
	"github.com/skiff-k8s/skiff/pkg/registry/authorization"
	"github.com/skiff-k8s/skiff/pkg/registry/autoscaling"
	"github.com/skiff-k8s/skiff/pkg/registry/batch"
	"github.com/skiff-k8s/skiff/pkg/registry/certificates"
	"github.com/skiff-k8s/skiff/pkg/registry/coordination"
	"github.com/skiff-k8s/skiff/pkg/registry/core"
	"github.com/skiff-k8s/skiff/pkg/registry/discovery"
	"github.com/skiff-k8s/skiff/pkg/registry/events"
	"github.com/skiff-k8s/skiff/pkg/registry/flowcontrol"
	"github.com/skiff-k8s/skiff/pkg/registry/metrics"
	"github.com/skiff-k8s/skiff/pkg/registry/networking"
	"github.com/skiff-k8s/skiff/pkg/registry/node"
	"github.com/skiff-k8s/skiff/pkg/registry/policy"
	"github.com/skiff-k8s/skiff/pkg/registry/rbac"
	"github.com/skiff-k8s/skiff/pkg/registry/resource"
	"github.com/skiff-k8s/skiff/pkg/registry/scheduling"
	"github.com/skiff-k8s/skiff/pkg/registry/storage"
	"github.com/skiff-k8s/skiff/pkg/registry/storagemigration"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// builders are the served groups, in the order discovery lists them.
var builders = []func(*store.Options) (*store.Group, error){
	core.Group,
	admissionregistration.Group,
	apps.Group,
	authentication.Group,
	authorization.Group,
	autoscaling.Group,
	batch.Group,
	certificates.Group,
	coordination.Group,
	discovery.Group,
	events.Group,
	flowcontrol.Group,
	networking.Group,
	node.Group,
	policy.Group,
	rbac.Group,
	resource.Group,
	scheduling.Group,
	storage.Group,
	storagemigration.Group,
}

// Groups builds the storage of every served group; a group with no resources yet is left out.
func Groups(opts *store.Options) ([]*store.Group, error) {
	out := make([]*store.Group, 0, len(builders))
	for _, b := range builders {
		g, err := b(opts)
		if err != nil {
			return nil, err
		}
		if len(g.Storage) > 0 {
			out = append(out, g)
		}
	}
	// metrics.k8s.io reads the nodes and pods core/v1 stores; core is built first.
	m, err := metrics.Group(opts, out[0])
	if err != nil {
		return nil, err
	}
	return append(out, m), nil
}
