// Package store turns a short description of a built-in resource into the
// k8s.io/apiserver generic registry stores that serve it.
//
// A resource folder under pkg/registry/<group>/<resource> says only what differs for its
// type: defaults, validation, printed columns, selectable fields, subresources. This
// package supplies the rest the same way for every type: ObjectMeta validation,
// generation bumps on spec change, status written only through /status, reset fields
// for server-side apply, field-label conversion, short names and categories.
//
//	var Resource = &store.Resource{
//		Name: "configmaps", Singular: "configmap", Namespaced: true, ShortNames: []string{"cm"},
//		New: func() runtime.Object { return &corev1.ConfigMap{} },
//		NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
//		Columns: []metav1.TableColumnDefinition{store.NameColumn, {Name: "Data", Type: "string"}, store.AgeColumn},
//		Row: func(o runtime.Object) []any { … },
//	}
package store

import (
	"context"
	"fmt"

	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-k8s/skiff/pkg/apiserver/scheme"
)

// NameFunc validates an object's name; it returns the messages of what is wrong.
type NameFunc func(name string, prefix bool) []string

// Resource describes one served resource.
type Resource struct {
	// Name is the plural resource name ("pods"), Singular its singular ("pod").
	Name, Singular string
	New, NewList   func() runtime.Object
	Namespaced     bool
	ShortNames     []string
	Categories     []string

	// ValidateName checks metadata.name; nil means a DNS subdomain, as most types use.
	ValidateName NameFunc
	// Defaults fills defaults; it runs whenever an object of this type is decoded.
	Defaults func(obj runtime.Object)
	// PrepareForCreate and PrepareForUpdate normalize an object before validation.
	PrepareForCreate func(ctx context.Context, obj runtime.Object)
	PrepareForUpdate func(ctx context.Context, obj, old runtime.Object)
	// Validate and ValidateUpdate check the type's own fields; ObjectMeta is checked here.
	Validate       func(ctx context.Context, obj runtime.Object) field.ErrorList
	ValidateUpdate func(ctx context.Context, obj, old runtime.Object) field.ErrorList
	// Warnings returns warnings for a create or update (old is nil on create).
	Warnings func(ctx context.Context, obj, old runtime.Object) []string
	// Generation bumps metadata.generation when anything but metadata and status changes.
	Generation bool
	// Status serves a status subresource; the main resource then ignores status writes.
	Status bool
	// KeepStatusOnCreate keeps the status a client sends on create (nodes register with
	// theirs); by default a resource with Status starts with an empty status.
	KeepStatusOnCreate bool
	// ValidateStatus checks a status update.
	ValidateStatus func(ctx context.Context, obj, old runtime.Object) field.ErrorList
	// PrepareForStatusUpdate normalizes a status update after spec and metadata have been
	// restored from the stored object (optional).
	PrepareForStatusUpdate func(ctx context.Context, obj, old runtime.Object)
	// AllowCreateOnUpdate lets PUT create the object.
	AllowCreateOnUpdate bool
	// GracefulDelete decides the grace period of a delete, as pods do.
	GracefulDelete func(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool

	// Fields returns the selectable fields beyond metadata.name and metadata.namespace;
	// their names must be listed in FieldLabels.
	Fields      func(obj runtime.Object) fields.Set
	FieldLabels []string

	// Columns and Row make the table kubectl prints; nil Row gives NAME and AGE.
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object) []any

	// Scale serves a scale subresource.
	Scale *Scale
	// Customize may set hooks (BeginCreate, AfterDelete, …) on the built store.
	Customize func(s *genericregistry.Store) error
	// Main wraps the main REST storage to override verbs (namespaces' Delete, …).
	Main func(r *REST) rest.Storage
	// Subresources adds REST storages for subresources: keys are the subresource names.
	Subresources func(s *genericregistry.Store) (map[string]rest.Storage, error)

	gvk schema.GroupVersionKind
}

// GroupResource returns the resource's group and name.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Kind().Group, Resource: r.Name}
}

// Kind returns the served group, version and kind of the resource's objects.
func (r *Resource) Kind() schema.GroupVersionKind {
	if r.gvk.Empty() {
		gvks, _, err := scheme.Scheme.ObjectKinds(r.New())
		if err != nil {
			panic(fmt.Sprintf("resource %s: %v", r.Name, err))
		}
		r.gvk = gvks[0]
	}
	return r.gvk
}

// registered are the kinds whose scheme functions MustRegister has added.
var registered = map[schema.GroupVersionKind]bool{}

// MustRegister adds the resources' defaulting and field-label functions to the shared
// scheme. Group packages call it from init: the scheme is read without locks by every
// decode, so it must be complete before the first store starts its watch cache.
// Build refuses a resource whose kind was not registered this way.
func MustRegister(rs ...*Resource) {
	for _, r := range rs {
		if err := r.Register(scheme.Scheme); err != nil {
			panic(fmt.Sprintf("register %s: %v", r.Name, err))
		}
		registered[r.Kind()] = true
	}
}

// Register adds the resource's defaulting and field-label functions to s.
func (r *Resource) Register(s *runtime.Scheme) error {
	if r.Defaults != nil {
		d := r.Defaults
		s.AddTypeDefaultingFunc(r.New(), func(obj any) { d(obj.(runtime.Object)) })
	}
	allowed := map[string]bool{"metadata.name": true}
	if r.Namespaced {
		allowed["metadata.namespace"] = true
	}
	for _, l := range r.FieldLabels {
		allowed[l] = true
	}
	return s.AddFieldLabelConversionFunc(r.Kind(), func(label, value string) (string, string, error) {
		if allowed[label] {
			return label, value, nil
		}
		return "", "", fmt.Errorf("field label not supported: %s", label)
	})
}

// Built is what Build returns: the REST storages keyed "pods", "pods/status", …, and
// the main store, for resources whose subresources need it.
type Built struct {
	Storage map[string]rest.Storage
	Store   *genericregistry.Store
}

// Build creates the stores for r over the given storage.
func (r *Resource) Build(opts generic.RESTOptionsGetter) (*Built, error) {
	if !registered[r.Kind()] {
		return nil, fmt.Errorf("resource %s: not registered with store.MustRegister at init", r.Name)
	}
	strategy := &strategy{ObjectTyper: scheme.Scheme, NameGenerator: namesGenerator, r: r}
	gr := r.GroupResource()
	s := &genericregistry.Store{
		NewFunc:                   r.New,
		NewListFunc:               r.NewList,
		DefaultQualifiedResource:  gr,
		SingularQualifiedResource: schema.GroupResource{Group: gr.Group, Resource: r.Singular},
		PredicateFunc:             r.predicate,
		CreateStrategy:            strategy,
		UpdateStrategy:            strategy,
		DeleteStrategy:            strategy,
		ResetFieldsStrategy:       strategy,
		TableConvertor:            r.table(),
	}
	if err := s.CompleteWithOptions(&generic.StoreOptions{RESTOptions: opts, AttrFunc: r.attrs}); err != nil {
		return nil, fmt.Errorf("complete store %s: %w", gr, err)
	}
	if r.Customize != nil {
		if err := r.Customize(s); err != nil {
			return nil, err
		}
	}
	var main rest.Storage = &REST{Store: s, r: r}
	if r.Main != nil {
		main = r.Main(main.(*REST))
	}
	b := &Built{Store: s, Storage: map[string]rest.Storage{r.Name: main}}
	if r.Status {
		st := *s
		st.CreateStrategy = nil
		st.DeleteStrategy = nil
		ss := &statusStrategy{strategy}
		st.UpdateStrategy = ss
		st.ResetFieldsStrategy = ss
		b.Storage[r.Name+"/status"] = &StatusREST{store: &st}
	}
	if r.Scale != nil {
		b.Storage[r.Name+"/scale"] = &ScaleREST{store: s, scale: r.Scale, gr: gr}
	}
	if r.Subresources != nil {
		extra, err := r.Subresources(s)
		if err != nil {
			return nil, err
		}
		for k, v := range extra {
			b.Storage[r.Name+"/"+k] = v
		}
	}
	return b, nil
}

func (r *Resource) attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, nil, err
	}
	fs := fields.Set{"metadata.name": m.GetName()}
	if r.Namespaced {
		fs["metadata.namespace"] = m.GetNamespace()
	}
	if r.Fields != nil {
		fs = generic.MergeFieldsSets(fs, r.Fields(obj))
	}
	return m.GetLabels(), fs, nil
}

func (r *Resource) predicate(l labels.Selector, f fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: l, Field: f, GetAttrs: r.attrs}
}

// REST is the main storage of a resource: the generic store plus discovery details.
type REST struct {
	*genericregistry.Store
	r *Resource
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames implements rest.ShortNamesProvider.
func (s *REST) ShortNames() []string { return s.r.ShortNames }

// Categories implements rest.CategoriesProvider.
func (s *REST) Categories() []string { return s.r.Categories }

// StatusREST serves the status subresource: get, update and patch of status only.
type StatusREST struct {
	store *genericregistry.Store
}

// New implements rest.Storage.
func (s *StatusREST) New() runtime.Object { return s.store.New() }

// Destroy implements rest.Storage; the main store owns the storage.
func (s *StatusREST) Destroy() {}

// Get implements rest.Getter.
func (s *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return s.store.Get(ctx, name, options)
}

// Update implements rest.Updater; create-on-update is never allowed for status.
func (s *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return s.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// GetResetFields implements rest.ResetFieldsStrategy.
func (s *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return s.store.GetResetFields()
}

// ConvertToTable implements rest.TableConvertor.
func (s *StatusREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return s.store.ConvertToTable(ctx, object, tableOptions)
}

// DNSSubdomain is the default name check.
func DNSSubdomain(name string, prefix bool) []string {
	return metavalidation.NameIsDNSSubdomain(name, prefix)
}

// DNSLabel is the name check of namespaces, services and others named like hosts.
func DNSLabel(name string, prefix bool) []string { return metavalidation.NameIsDNSLabel(name, prefix) }

// PathSegment accepts any name usable in a URL path (roles, events, …).
func PathSegment(name string, prefix bool) []string {
	return path.ValidatePathSegmentName(name, prefix)
}
