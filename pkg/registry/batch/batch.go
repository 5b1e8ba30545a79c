// Package batch assembles the storages of the batch/v1 group version.
package batch

import (
	batchv1 "k8s.io/api/batch/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/batch/cronjob"
	"github.com/skiff-k8s/skiff/pkg/registry/batch/job"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	cronjob.Resource,
	job.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds batch/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(batchv1.SchemeGroupVersion, opts, resources...)
}
