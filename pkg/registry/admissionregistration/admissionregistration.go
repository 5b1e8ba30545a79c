// Package admissionregistration assembles the storages of the admissionregistration/v1 group version.
package admissionregistration

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/mutatingadmissionpolicy"
	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/mutatingadmissionpolicybinding"
	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/mutatingwebhookconfiguration"
	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/validatingadmissionpolicy"
	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/validatingadmissionpolicybinding"
	"github.com/skiff-k8s/skiff/pkg/registry/admissionregistration/validatingwebhookconfiguration"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// resources are the group's stores; their scheme functions are registered at init.
var resources = []*store.Resource{
	validatingwebhookconfiguration.Resource,
	mutatingwebhookconfiguration.Resource,
	validatingadmissionpolicy.Resource,
	validatingadmissionpolicybinding.Resource,
	mutatingadmissionpolicy.Resource,
	mutatingadmissionpolicybinding.Resource,
}

func init() { store.MustRegister(resources...) }

// Group builds admissionregistration/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(admissionregistrationv1.SchemeGroupVersion, opts, resources...)
}
