package store

import (
	"context"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

var namesGenerator = names.SimpleNameGenerator

// strategy is the create, update and delete strategy of every resource: the shared
// rules, then the resource's own hooks.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	r *Resource
}

func metaOf(obj runtime.Object) (metav1.Object, error) { return meta.Accessor(obj) }

func (s *strategy) NamespaceScoped() bool { return s.r.Namespaced }

func (s *strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if s.r.Status && !s.r.KeepStatusOnCreate {
		resetField(obj, "Status")
	}
	if s.r.Generation {
		m, _ := meta.Accessor(obj)
		m.SetGeneration(1)
	}
	if s.r.PrepareForCreate != nil {
		s.r.PrepareForCreate(ctx, obj)
	}
}

func (s *strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	if s.r.Status {
		copyField(obj, old, "Status")
	}
	if s.r.PrepareForUpdate != nil {
		s.r.PrepareForUpdate(ctx, obj, old)
	}
	if s.r.Generation {
		m, _ := meta.Accessor(obj)
		om, _ := meta.Accessor(old)
		g := om.GetGeneration()
		if !equalBeyondMeta(obj, old) {
			g++
		}
		m.SetGeneration(g)
	}
}

func (s *strategy) nameFunc() metavalidation.ValidateNameFunc {
	if s.r.ValidateName != nil {
		return metavalidation.ValidateNameFunc(s.r.ValidateName)
	}
	return metavalidation.NameIsDNSSubdomain
}

func (s *strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	errs := metavalidation.ValidateObjectMetaAccessor(m, s.r.Namespaced, s.nameFunc(), field.NewPath("metadata"))
	if s.r.Validate != nil {
		errs = append(errs, s.r.Validate(ctx, obj)...)
	}
	return errs
}

func (s *strategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	if s.r.Warnings != nil {
		return s.r.Warnings(ctx, obj, nil)
	}
	return nil
}

func (s *strategy) Canonicalize(obj runtime.Object) {}

func (s *strategy) AllowCreateOnUpdate(ctx context.Context) bool { return s.r.AllowCreateOnUpdate }

func (s *strategy) AllowUnconditionalUpdate(ctx context.Context) bool { return true }

func (s *strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	om, err := meta.Accessor(old)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	errs := metavalidation.ValidateObjectMetaAccessorUpdate(m, om, field.NewPath("metadata"))
	errs = append(errs, metavalidation.ValidateObjectMetaAccessor(m, s.r.Namespaced, s.nameFunc(), field.NewPath("metadata"))...)
	if s.r.ValidateUpdate != nil {
		errs = append(errs, s.r.ValidateUpdate(ctx, obj, old)...)
	} else if s.r.Validate != nil {
		errs = append(errs, s.r.Validate(ctx, obj)...)
	}
	return errs
}

func (s *strategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	if s.r.Warnings != nil {
		return s.r.Warnings(ctx, obj, old)
	}
	return nil
}

// CheckGracefulDelete implements rest.RESTGracefulDeleteStrategy.
func (s *strategy) CheckGracefulDelete(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	if s.r.GracefulDelete != nil {
		return s.r.GracefulDelete(ctx, obj, options)
	}
	return false
}

// GetResetFields implements rest.ResetFieldsStrategy: the main resource ignores status.
func (s *strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	if !s.r.Status {
		return nil
	}
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.r.Kind().GroupVersion().String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// statusStrategy is the update strategy of /status: only status changes.
type statusStrategy struct{ *strategy }

func (s *statusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	// Everything but metadata and status comes from the stored object.
	nv, ov := structOf(obj), structOf(old)
	for i := 0; i < nv.NumField(); i++ {
		switch nv.Type().Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
		default:
			nv.Field(i).Set(ov.Field(i))
		}
	}
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(old)
	m.SetGeneration(om.GetGeneration())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetOwnerReferences(om.GetOwnerReferences())
	if s.r.PrepareForStatusUpdate != nil {
		s.r.PrepareForStatusUpdate(ctx, obj, old)
	}
}

func (s *statusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(old)
	errs := metavalidation.ValidateObjectMetaAccessorUpdate(m, om, field.NewPath("metadata"))
	if s.r.ValidateStatus != nil {
		errs = append(errs, s.r.ValidateStatus(ctx, obj, old)...)
	}
	return errs
}

func (s *statusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

func (s *statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.r.Kind().GroupVersion().String()): fieldpath.NewSet(fieldpath.MakePathOrDie("spec")),
	}
}

func structOf(obj runtime.Object) reflect.Value { return reflect.ValueOf(obj).Elem() }

func resetField(obj runtime.Object, name string) {
	if f := structOf(obj).FieldByName(name); f.IsValid() {
		f.Set(reflect.Zero(f.Type()))
	}
}

func copyField(dst, src runtime.Object, name string) {
	if f := structOf(dst).FieldByName(name); f.IsValid() {
		f.Set(structOf(src).FieldByName(name))
	}
}

// equalBeyondMeta reports whether two objects agree on everything but metadata and
// status: the change that bumps metadata.generation.
func equalBeyondMeta(a, b runtime.Object) bool {
	av, bv := structOf(a), structOf(b)
	for i := 0; i < av.NumField(); i++ {
		switch av.Type().Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !equality.Semantic.DeepEqual(av.Field(i).Interface(), bv.Field(i).Interface()) {
			return false
		}
	}
	return true
}
