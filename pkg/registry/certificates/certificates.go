// Package certificates assembles the storages of the certificates/v1 group version.
package certificates

import (
	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/certificates/certificatesigningrequest"
	"github.com/skiff-k8s/skiff/pkg/registry/certificates/clustertrustbundle"
	"github.com/skiff-k8s/skiff/pkg/registry/certificates/podcertificaterequest"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	certificatesigningrequest.Resource,
	clustertrustbundle.Resource,
	podcertificaterequest.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds certificates/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(certificatesv1.SchemeGroupVersion, opts, resources...)
}
