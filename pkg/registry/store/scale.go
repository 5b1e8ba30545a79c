package store

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-k8s/skiff/pkg/apiserver/scheme"
)

// Scale says how a resource's replicas read and write through /scale.
type Scale struct {
	// Get returns spec replicas, status replicas and the label selector as a string.
	Get func(obj runtime.Object) (spec, status int32, selector string)
	// Set writes spec replicas.
	Set func(obj runtime.Object, replicas int32)
}

// ScaleREST serves autoscaling/v1 Scale for a resource.
type ScaleREST struct {
	store *genericregistry.Store
	scale *Scale
	gr    schema.GroupResource
}

var (
	_ rest.Patcher                  = &ScaleREST{}
	_ rest.GroupVersionKindProvider = &ScaleREST{}
)

// New implements rest.Storage.
func (s *ScaleREST) New() runtime.Object { return &autoscalingv1.Scale{} }

// Destroy implements rest.Storage.
func (s *ScaleREST) Destroy() {}

// GroupVersionKind implements rest.GroupVersionKindProvider.
func (s *ScaleREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return scheme.ScaleGroupVersion.WithKind("Scale")
}

// Get implements rest.Getter.
func (s *ScaleREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := s.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return s.toScale(obj)
}

func (s *ScaleREST) toScale(obj runtime.Object) (*autoscalingv1.Scale, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, err
	}
	spec, status, selector := s.scale.Get(obj)
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}, nil
}

// Update implements rest.Updater: it applies the new replica count to the owner object.
func (s *ScaleREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	obj, _, err := s.store.Update(ctx, name, &scaleUpdate{s: s, objInfo: objInfo}, refuseCreate, s.scaleUpdateValidation(updateValidation), false, options)
	if err != nil {
		return nil, false, err
	}
	sc, err := s.toScale(obj)
	return sc, false, err
}

// ConvertToTable implements rest.TableConvertor.
func (s *ScaleREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return rest.NewDefaultTableConvertor(s.gr).ConvertToTable(ctx, object, tableOptions)
}

// refuseCreate is the create validation of a scale update: /scale never creates.
func refuseCreate(context.Context, runtime.Object) error {
	return apierrors.NewBadRequest("scale cannot create an object")
}

func (s *ScaleREST) scaleUpdateValidation(f rest.ValidateObjectUpdateFunc) rest.ValidateObjectUpdateFunc {
	return func(ctx context.Context, obj, old runtime.Object) error {
		if f == nil {
			return nil
		}
		newScale, err := s.toScale(obj)
		if err != nil {
			return err
		}
		oldScale, err := s.toScale(old)
		if err != nil {
			return err
		}
		return f(ctx, newScale, oldScale)
	}
}

// scaleUpdate turns an update of a Scale into an update of the object it scales.
type scaleUpdate struct {
	s       *ScaleREST
	objInfo rest.UpdatedObjectInfo
}

func (u *scaleUpdate) Preconditions() *metav1.Preconditions { return u.objInfo.Preconditions() }

func (u *scaleUpdate) UpdatedObject(ctx context.Context, oldObj runtime.Object) (runtime.Object, error) {
	if oldObj == nil {
		return nil, apierrors.NewNotFound(u.s.gr, "")
	}
	oldScale, err := u.s.toScale(oldObj)
	if err != nil {
		return nil, err
	}
	obj, err := u.objInfo.UpdatedObject(ctx, oldScale)
	if err != nil {
		return nil, err
	}
	sc, ok := obj.(*autoscalingv1.Scale)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected Scale, got %T", obj))
	}
	if sc.Spec.Replicas < 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, sc.Name,
			field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), sc.Spec.Replicas, "must be greater than or equal to 0")})
	}
	if sc.ResourceVersion != "" && sc.ResourceVersion != oldScale.ResourceVersion {
		return nil, apierrors.NewConflict(u.s.gr, sc.Name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
	}
	updated := oldObj.DeepCopyObject()
	u.s.scale.Set(updated, sc.Spec.Replicas)
	return updated, nil
}
