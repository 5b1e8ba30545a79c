package store

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
)

// Review is the storage of a create-only kind that is answered and never stored: the
// access and token reviews. Create refuses anything but a T, runs Check, then the
// admission validation, and returns what Answer makes of the object.
type Review[T runtime.Object] struct {
	Singular   string
	Namespaced bool
	// Empty returns a new, empty T.
	Empty func() T
	// Check, when set, refuses a request before admission validation.
	Check func(ctx context.Context, obj T) error
	// Answer fills in the review's answer.
	Answer func(ctx context.Context, obj T) (runtime.Object, error)
}

var (
	_ rest.Creater              = &Review[runtime.Object]{}
	_ rest.Scoper               = &Review[runtime.Object]{}
	_ rest.SingularNameProvider = &Review[runtime.Object]{}
)

// New implements rest.Storage.
func (r *Review[T]) New() runtime.Object { return r.Empty() }

// Destroy implements rest.Storage.
func (r *Review[T]) Destroy() {}

// NamespaceScoped implements rest.Scoper.
func (r *Review[T]) NamespaceScoped() bool { return r.Namespaced }

// GetSingularName implements rest.SingularNameProvider.
func (r *Review[T]) GetSingularName() string { return r.Singular }

// Create implements rest.Creater.
func (r *Review[T]) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	review, ok := obj.(T)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a %s: %#v", reflect.TypeOf(r.Empty()).Elem().Name(), obj))
	}
	if r.Check != nil {
		if err := r.Check(ctx, review); err != nil {
			return nil, err
		}
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	return r.Answer(ctx, review)
}
