// Package storage assembles the storages of the storage/v1 group version.
package storage

import (
	storagev1 "k8s.io/api/storage/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/storage/csidriver"
	"github.com/skiff-k8s/skiff/pkg/registry/storage/csinode"
	"github.com/skiff-k8s/skiff/pkg/registry/storage/csistoragecapacity"
	"github.com/skiff-k8s/skiff/pkg/registry/storage/storageclass"
	"github.com/skiff-k8s/skiff/pkg/registry/storage/volumeattachment"
	"github.com/skiff-k8s/skiff/pkg/registry/storage/volumeattributesclass"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	storageclass.Resource,
	csidriver.Resource,
	csinode.Resource,
	csistoragecapacity.Resource,
	volumeattachment.Resource,
	volumeattributesclass.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds storage/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(storagev1.SchemeGroupVersion, opts, resources...)
}
