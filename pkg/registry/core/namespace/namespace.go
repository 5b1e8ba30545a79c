// Package namespace serves core/v1 Namespaces: the kubernetes finalizer on create, and
// deletion that moves a namespace to Terminating until the namespace controller has
// emptied it and removed the finalizer (through /finalize).
package namespace

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/util/dryrun"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Resource is namespaces.
var Resource = &store.Resource{
	Name: "namespaces", Singular: "namespace", ShortNames: []string{"ns"},
	New:          func() runtime.Object { return &corev1.Namespace{} },
	NewList:      func() runtime.Object { return &corev1.NamespaceList{} },
	ValidateName: store.DNSLabel,
	Status:       true,
	Defaults: func(obj runtime.Object) {
		ns := obj.(*corev1.Namespace)
		if ns.Status.Phase == "" {
			ns.Status.Phase = corev1.NamespaceActive
		}
		// The name label is always present and always matches the name.
		if ns.Name != "" {
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels[corev1.LabelMetadataName] = ns.Name
		}
	},
	PrepareForCreate: func(_ context.Context, obj runtime.Object) {
		ns := obj.(*corev1.Namespace)
		ns.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
		ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	},
	PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
		// spec.finalizers change only through /finalize.
		obj.(*corev1.Namespace).Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
	},
	Fields: func(obj runtime.Object) fields.Set {
		return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
	},
	FieldLabels: []string{"status.phase"},
	Columns: []metav1.TableColumnDefinition{store.NameColumn,
		{Name: "Status", Type: "string", Description: "The status of the namespace"}, store.AgeColumn},
	Row: func(obj runtime.Object) []any {
		ns := obj.(*corev1.Namespace)
		return []any{ns.Name, string(ns.Status.Phase), store.Age(ns.CreationTimestamp)}
	},
	// A Terminating namespace goes only once its spec.finalizers are empty (through
	// /finalize); other updates, status ones included, must not delete it.
	Customize: func(s *genericregistry.Store) error {
		s.ShouldDeleteDuringUpdate = func(ctx context.Context, key string, obj, existing runtime.Object) bool {
			return len(obj.(*corev1.Namespace).Spec.Finalizers) == 0 && genericregistry.ShouldDeleteDuringUpdate(ctx, key, obj, existing)
		}
		return nil
	},
	Subresources: func(s *genericregistry.Store) (map[string]rest.Storage, error) {
		// /finalize has a strategy of its own: the main one keeps spec.finalizers.
		fs := *s
		fs.UpdateStrategy = finalizeStrategy{s.UpdateStrategy}
		return map[string]rest.Storage{"finalize": &finalizeREST{store: &fs}}, nil
	},
}

func init() {
	Resource.Main = func(r *store.REST) rest.Storage { return &namespaceREST{r} }
}

// namespaceREST deletes a namespace that still has spec.finalizers by moving it to
// Terminating; the object goes when the namespace controller has emptied it. It
// forwards verbs explicitly so that, as upstream, namespaces have no deletecollection.
type namespaceREST struct{ *store.REST }

// DeleteCollection hides the store's: namespaces are deleted one by one.
func (r *namespaceREST) DeleteCollection() {}

func (r *namespaceREST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	obj, err := r.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	ns := obj.(*corev1.Namespace)
	if options == nil {
		options = metav1.NewDeleteOptions(0)
	}
	if p := options.Preconditions; p != nil {
		if p.UID != nil && *p.UID != ns.UID {
			return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name,
				fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, ns.UID))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != ns.ResourceVersion {
			return nil, false, apierrors.NewConflict(corev1.Resource("namespaces"), name,
				fmt.Errorf("precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, ns.ResourceVersion))
		}
	}
	if len(ns.Spec.Finalizers) == 0 && len(ns.Finalizers) == 0 {
		return r.REST.Delete(ctx, name, deleteValidation, options)
	}
	if ns.DeletionTimestamp != nil {
		return ns, false, nil // already terminating
	}
	if deleteValidation != nil {
		if err := deleteValidation(ctx, ns); err != nil {
			return nil, false, err
		}
	}
	key, err := r.Store.KeyFunc(ctx, name)
	if err != nil {
		return nil, false, err
	}
	out := &corev1.Namespace{}
	now := metav1.Now()
	err = r.Store.Storage.GuaranteedUpdate(ctx, key, out, false, &storage.Preconditions{UID: &ns.UID},
		storage.SimpleUpdate(func(existing runtime.Object) (runtime.Object, error) {
			cur := existing.(*corev1.Namespace)
			if cur.DeletionTimestamp != nil {
				return cur, nil
			}
			cur.DeletionTimestamp = &now
			cur.DeletionGracePeriodSeconds = new(int64)
			cur.Status.Phase = corev1.NamespaceTerminating
			cur.Finalizers = withPropagation(cur.Finalizers, options)
			return cur, nil
		}), dryrun.IsDryRun(options.DryRun), nil)
	if err != nil {
		return nil, false, err
	}
	return out, false, nil
}

// withPropagation records the orphan or foreground finalizer a delete asked for, as the
// generic store does for other objects.
func withPropagation(fs []string, options *metav1.DeleteOptions) []string {
	want := ""
	switch {
	case options.PropagationPolicy != nil && *options.PropagationPolicy == metav1.DeletePropagationOrphan,
		options.OrphanDependents != nil && *options.OrphanDependents:
		want = metav1.FinalizerOrphanDependents
	case options.PropagationPolicy != nil && *options.PropagationPolicy == metav1.DeletePropagationForeground:
		want = metav1.FinalizerDeleteDependents
	}
	if want == "" || slices.Contains(fs, want) {
		return fs
	}
	return append(fs, want)
}

// finalizeREST serves PUT /api/v1/namespaces/{name}/finalize: only spec.finalizers change.
type finalizeREST struct{ store *genericregistry.Store }

func (r *finalizeREST) New() runtime.Object { return &corev1.Namespace{} }
func (r *finalizeREST) Destroy()            {}

func (r *finalizeREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, &finalizeUpdate{objInfo}, createValidation, updateValidation, false, options)
}

type finalizeUpdate struct{ rest.UpdatedObjectInfo }

func (u *finalizeUpdate) UpdatedObject(ctx context.Context, old runtime.Object) (runtime.Object, error) {
	obj, err := u.UpdatedObjectInfo.UpdatedObject(ctx, old)
	if err != nil {
		return nil, err
	}
	in, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Namespace: %T", obj))
	}
	out := old.DeepCopyObject().(*corev1.Namespace)
	for i, f := range in.Spec.Finalizers {
		if f == "" {
			return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Namespace").GroupKind(), in.Name,
				field.ErrorList{field.Required(field.NewPath("spec", "finalizers").Index(i), "")})
		}
	}
	out.Spec.Finalizers = in.Spec.Finalizers
	return out, nil
}

// finalizeStrategy is the update strategy of /finalize: finalizeUpdate has already
// kept everything of the old object but spec.finalizers.
type finalizeStrategy struct{ rest.RESTUpdateStrategy }

func (finalizeStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}
