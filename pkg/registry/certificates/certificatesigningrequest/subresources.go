package certificatesigningrequest

import (
	"context"

	certificatesv1 "k8s.io/api/certificates/v1"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-k8s/skiff/pkg/apiserver/scheme"
)

// subresources serves /status (signers: status.certificate and conditions other than
// Approved and Denied) and /approval (approvers: conditions only).
func subresources(s *genericregistry.Store) (map[string]rest.Storage, error) {
	return map[string]rest.Storage{
		"status":   newSubresource(s, &updateStrategy{approval: false}),
		"approval": newSubresource(s, &updateStrategy{approval: true}),
	}, nil
}

func newSubresource(s *genericregistry.Store, st *updateStrategy) *subresourceREST {
	c := *s
	c.CreateStrategy, c.DeleteStrategy = nil, nil
	c.UpdateStrategy, c.ResetFieldsStrategy = st, st
	return &subresourceREST{store: &c}
}

// updateStrategy is the update strategy of /status and /approval.
type updateStrategy struct{ approval bool }

var _ rest.RESTUpdateStrategy = &updateStrategy{}

func (s *updateStrategy) ObjectKinds(obj runtime.Object) ([]schema.GroupVersionKind, bool, error) {
	return scheme.Scheme.ObjectKinds(obj)
}
func (s *updateStrategy) Recognizes(gvk schema.GroupVersionKind) bool {
	return scheme.Scheme.Recognizes(gvk)
}
func (s *updateStrategy) NamespaceScoped() bool                         { return false }
func (s *updateStrategy) AllowCreateOnUpdate(context.Context) bool      { return false }
func (s *updateStrategy) AllowUnconditionalUpdate(context.Context) bool { return true }
func (s *updateStrategy) Canonicalize(runtime.Object)                   {}
func (s *updateStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (s *updateStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	csr, oldCSR := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	csr.Spec = oldCSR.Spec
	if s.approval {
		conditions := csr.Status.Conditions
		csr.Status = *oldCSR.Status.DeepCopy()
		csr.Status.Conditions = conditions
	} else {
		preserveConditions(csr, oldCSR, certificatesv1.CertificateApproved)
		preserveConditions(csr, oldCSR, certificatesv1.CertificateDenied)
	}
	populateConditionTimestamps(csr, oldCSR)
}

func (s *updateStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	csr, oldCSR := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	errs := metavalidation.ValidateObjectMetaUpdate(&csr.ObjectMeta, &oldCSR.ObjectMeta, field.NewPath("metadata"))
	return append(errs, ValidateUpdate(csr, oldCSR, options{approval: s.approval, certificate: !s.approval})...)
}

func (s *updateStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"certificates.k8s.io/v1": fieldpath.NewSet(fieldpath.MakePathOrDie("spec")),
	}
}

// subresourceREST gets the request and updates it through its strategy.
type subresourceREST struct{ store *genericregistry.Store }

var (
	_ rest.Getter  = &subresourceREST{}
	_ rest.Updater = &subresourceREST{}
)

func (r *subresourceREST) New() runtime.Object { return &certificatesv1.CertificateSigningRequest{} }
func (r *subresourceREST) Destroy()            {}

func (r *subresourceREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

func (r *subresourceREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

func (r *subresourceREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

func (r *subresourceREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}
