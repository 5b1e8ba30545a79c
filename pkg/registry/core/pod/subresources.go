package pod

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/util/dryrun"

	"github.com/skiff-k8s/skiff/pkg/apiserver/scheme"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// The scheme functions of pods and of their query options, before any store starts.
func init() {
	utilruntime.Must(registerOptionConversions(scheme.Scheme))
	store.MustRegister(Resource)
}

// NewResource returns the pods resource with all its subresources; kc reaches kubelets
// for log, exec, attach and portforward, pdbs (optional) guards evictions.
func NewResource(kc *KubeletConnector, pdbs PDBChecker) *store.Resource {
	r := *Resource
	r.Subresources = func(s *genericregistry.Store) (map[string]rest.Storage, error) {
		return map[string]rest.Storage{
			"binding":             &BindingREST{store: s},
			"eviction":            &EvictionREST{store: s, pdbs: pdbs},
			"ephemeralcontainers": &updateREST{store: withUpdateStrategy(s, &ephemeralStrategy{})},
			"resize":              &updateREST{store: withUpdateStrategy(s, &resizeStrategy{})},
			"log":                 &LogREST{store: s, kc: kc},
			"exec":                &streamREST{store: s, kc: kc, kind: "exec"},
			"attach":              &streamREST{store: s, kc: kc, kind: "attach"},
			"portforward":         &streamREST{store: s, kc: kc, kind: "portforward"},
		}, nil
	}
	return &r
}

// setNodeName binds a stored pod to a node, once, as upstream's binding does.
func setNodeName(ctx context.Context, s *genericregistry.Store, b *corev1.Binding, dryRun bool) error {
	key, err := s.KeyFunc(ctx, b.Name)
	if err != nil {
		return err
	}
	var pre *storage.Preconditions
	if b.UID != "" {
		pre = &storage.Preconditions{UID: &b.UID}
	}
	return s.Storage.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, pre, func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
		p := obj.(*corev1.Pod)
		if p.DeletionTimestamp != nil {
			return nil, nil, apierrors.NewConflict(podsResource, p.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", p.Name))
		}
		if p.Spec.NodeName != "" {
			return nil, nil, apierrors.NewConflict(podsResource, p.Name, fmt.Errorf("pod %v is already assigned to node %q", p.Name, p.Spec.NodeName))
		}
		if len(p.Spec.SchedulingGates) != 0 {
			return nil, nil, apierrors.NewConflict(podsResource, p.Name, fmt.Errorf("pod %v has non-empty .spec.schedulingGates", p.Name))
		}
		p.Spec.NodeName = b.Target.Name
		if len(b.Annotations) > 0 && p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		for k, v := range b.Annotations {
			p.Annotations[k] = v
		}
		setCondition(&p.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, ObservedGeneration: p.Generation})
		return p, nil, nil
	}, dryRun, nil)
}

// setCondition adds or replaces a condition, moving its transition time only when its
// status changes.
func setCondition(s *corev1.PodStatus, c corev1.PodCondition) {
	now := metav1.Now()
	c.LastProbeTime = metav1.Time{}
	for i := range s.Conditions {
		if s.Conditions[i].Type != c.Type {
			continue
		}
		if s.Conditions[i].Status == c.Status {
			c.LastTransitionTime = s.Conditions[i].LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		s.Conditions[i] = c
		return
	}
	c.LastTransitionTime = now
	s.Conditions = append(s.Conditions, c)
}

// ValidateBinding checks a Binding's target.
func ValidateBinding(b *corev1.Binding) field.ErrorList {
	var errs field.ErrorList
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(field.NewPath("target", "name"), ""))
	}
	return errs
}

// BindingREST serves pods/{name}/binding: it sets spec.nodeName of an unbound pod.
type BindingREST struct{ store *genericregistry.Store }

var _ rest.NamedCreater = &BindingREST{}

// New implements rest.Storage.
func (r *BindingREST) New() runtime.Object { return &corev1.Binding{} }

// Destroy implements rest.Storage.
func (r *BindingREST) Destroy() {}

// NamespaceScoped implements rest.Scoper.
func (r *BindingREST) NamespaceScoped() bool { return true }

// Create implements rest.NamedCreater.
func (r *BindingREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	b, ok := obj.(*corev1.Binding)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Binding object: %T", obj))
	}
	if name != b.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Binding object")
	}
	return r.bind(ctx, b, createValidation, options)
}

func (r *BindingREST) bind(ctx context.Context, b *corev1.Binding, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	if errs := ValidateBinding(b); len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), b.Name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, b.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	if err := setNodeName(ctx, r.store, b, dryrun.IsDryRun(options.DryRun)); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess}, nil
}

// LegacyBindingREST serves the top-level core "bindings" resource (create only).
type LegacyBindingREST struct{ Binding *BindingREST }

var _ rest.Creater = &LegacyBindingREST{}

// New implements rest.Storage.
func (r *LegacyBindingREST) New() runtime.Object { return &corev1.Binding{} }

// Destroy implements rest.Storage.
func (r *LegacyBindingREST) Destroy() {}

// NamespaceScoped implements rest.Scoper.
func (r *LegacyBindingREST) NamespaceScoped() bool { return true }

// GetSingularName implements rest.SingularNameProvider.
func (r *LegacyBindingREST) GetSingularName() string { return "binding" }

// Create implements rest.Creater.
func (r *LegacyBindingREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	b, ok := obj.(*corev1.Binding)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Binding object: %T", obj))
	}
	return r.Binding.bind(ctx, b, createValidation, options)
}

// PDBChecker decides whether evicting a pod is allowed by its PodDisruptionBudgets and
// records the disruption; it returns an API error (429) when it is not.
type PDBChecker interface {
	CheckEviction(ctx context.Context, pod *corev1.Pod, dryRun bool) error
}

// EvictionREST serves pods/{name}/eviction (policy/v1 Eviction).
type EvictionREST struct {
	store *genericregistry.Store
	pdbs  PDBChecker
}

var (
	_ rest.NamedCreater             = &EvictionREST{}
	_ rest.GroupVersionKindProvider = &EvictionREST{}
)

// New implements rest.Storage.
func (r *EvictionREST) New() runtime.Object { return &policyv1.Eviction{} }

// Destroy implements rest.Storage.
func (r *EvictionREST) Destroy() {}

// NamespaceScoped implements rest.Scoper.
func (r *EvictionREST) NamespaceScoped() bool { return true }

// GroupVersionKind implements rest.GroupVersionKindProvider.
func (r *EvictionREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return policyv1.SchemeGroupVersion.WithKind("Eviction")
}

// Create implements rest.NamedCreater: it deletes the pod, honouring the eviction's
// DeleteOptions, after the disruption budget check for pods that are running.
func (r *EvictionREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	ev, ok := obj.(*policyv1.Eviction)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not an Eviction object: %T", obj))
	}
	if name != ev.Name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	if createValidation != nil {
		if err := createValidation(ctx, ev.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	obj, err := r.store.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	p := obj.(*corev1.Pod)
	dryRun := dryrun.IsDryRun(options.DryRun)
	del := &metav1.DeleteOptions{}
	if ev.DeleteOptions != nil {
		del = ev.DeleteOptions.DeepCopy()
	}
	if dryRun {
		del.DryRun = options.DryRun
	}
	if p.DeletionTimestamp != nil {
		return &metav1.Status{Status: metav1.StatusSuccess}, nil
	}
	ignorePDB := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodPending
	if !ignorePDB && r.pdbs != nil {
		if err := r.pdbs.CheckEviction(ctx, p, dryRun); err != nil && err != errDryRunDone {
			return nil, err
		}
	}
	if del.Preconditions == nil {
		del.Preconditions = &metav1.Preconditions{}
	}
	if del.Preconditions.UID == nil {
		del.Preconditions.UID = &p.UID
	}
	if !dryRun {
		r.markDisruptionTarget(ctx, p)
	}
	if _, _, err := r.store.Delete(ctx, name, rest.ValidateAllObjectFunc, del); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess}, nil
}

// markDisruptionTarget adds the DisruptionTarget condition, as upstream does before the
// delete; failing to add it does not stop the eviction.
func (r *EvictionREST) markDisruptionTarget(ctx context.Context, p *corev1.Pod) {
	key, err := r.store.KeyFunc(ctx, p.Name)
	if err != nil {
		return
	}
	_ = r.store.Storage.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, nil, func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
		cur := obj.(*corev1.Pod)
		setCondition(&cur.Status, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting", ObservedGeneration: cur.Generation})
		return cur, nil, nil
	}, false, nil)
}

// withUpdateStrategy returns a copy of the pods store that updates with u.
func withUpdateStrategy(s *genericregistry.Store, u rest.RESTUpdateStrategy) *genericregistry.Store {
	st := *s
	st.CreateStrategy = nil
	st.DeleteStrategy = nil
	st.ResetFieldsStrategy = nil
	st.UpdateStrategy = u
	return &st
}

// updateREST serves an update-only pod subresource (ephemeralcontainers, resize).
type updateREST struct{ store *genericregistry.Store }

var _ rest.Patcher = &updateREST{}

func (r *updateREST) New() runtime.Object { return &corev1.Pod{} }
func (r *updateREST) Destroy()            {}

func (r *updateREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

func (r *updateREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// subresourceStrategy is what the ephemeral containers and resize strategies share.
type subresourceStrategy struct{}

func (subresourceStrategy) ObjectKinds(obj runtime.Object) ([]schema.GroupVersionKind, bool, error) {
	return scheme.Scheme.ObjectKinds(obj)
}
func (subresourceStrategy) Recognizes(gvk schema.GroupVersionKind) bool {
	return scheme.Scheme.Recognizes(gvk)
}
func (subresourceStrategy) NamespaceScoped() bool                         { return true }
func (subresourceStrategy) AllowCreateOnUpdate(context.Context) bool      { return false }
func (subresourceStrategy) AllowUnconditionalUpdate(context.Context) bool { return true }
func (subresourceStrategy) Canonicalize(obj runtime.Object)               {}
func (subresourceStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// keepOnly restores everything of p but spec (set by the caller) and the resource
// version (the request's precondition) from old.
func keepOnly(p, old *corev1.Pod, spec corev1.PodSpec) {
	meta := old.ObjectMeta.DeepCopy()
	// Labels, annotations and the rest of metadata are not changed through subresources.
	meta.ResourceVersion = p.ResourceVersion
	p.ObjectMeta = *meta
	p.Status = old.Status
	if !equality.Semantic.DeepEqual(spec, old.Spec) {
		p.Generation = old.Generation + 1
	}
	p.Spec = spec
}

type ephemeralStrategy struct{ subresourceStrategy }

func (ephemeralStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	p, o := obj.(*corev1.Pod), old.(*corev1.Pod)
	spec := *o.Spec.DeepCopy()
	spec.EphemeralContainers = p.Spec.EphemeralContainers
	keepOnly(p, o, spec)
}

func (ephemeralStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	p, o := obj.(*corev1.Pod), old.(*corev1.Pod)
	specPath := field.NewPath("spec")
	errs := ValidatePodSpec(&p.Spec, &p.ObjectMeta, specPath)
	byName := map[string]corev1.EphemeralContainer{}
	for _, ec := range p.Spec.EphemeralContainers {
		byName[ec.Name] = ec
	}
	for _, oc := range o.Spec.EphemeralContainers {
		nc, ok := byName[oc.Name]
		if !ok {
			errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), fmt.Sprintf("existing ephemeral containers %q may not be removed\n", oc.Name)))
		} else if !equality.Semantic.DeepEqual(oc, nc) {
			errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), fmt.Sprintf("existing ephemeral containers %q may not be changed\n", oc.Name)))
		}
	}
	return errs
}

type resizeStrategy struct{ subresourceStrategy }

func (resizeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	p, o := obj.(*corev1.Pod), old.(*corev1.Pod)
	if len(p.Spec.Containers) != len(o.Spec.Containers) || len(p.Spec.InitContainers) != len(o.Spec.InitContainers) {
		return // validation reports the change
	}
	spec := *o.Spec.DeepCopy()
	merge := func(dst, src []corev1.Container) bool {
		for i := range dst {
			if dst[i].Name != src[i].Name {
				return false
			}
			dst[i].Resources = src[i].Resources
			dst[i].ResizePolicy = src[i].ResizePolicy
		}
		return true
	}
	if !merge(spec.Containers, p.Spec.Containers) || !merge(spec.InitContainers, p.Spec.InitContainers) {
		return
	}
	requestsFromLimits(spec.Containers)
	requestsFromLimits(spec.InitContainers)
	keepOnly(p, o, spec)
}

func (resizeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	p, o := obj.(*corev1.Pod), old.(*corev1.Pod)
	specPath := field.NewPath("spec")
	errs := ValidatePodSpec(&p.Spec, &p.ObjectMeta, specPath)
	if p.Status.QOSClass != "" && QOSClass(p) != o.Status.QOSClass {
		errs = append(errs, field.Forbidden(specPath, "Pod QOS Class may not change as a result of resizing"))
	}
	munged := p.Spec.DeepCopy()
	if len(munged.Containers) == len(o.Spec.Containers) && len(munged.InitContainers) == len(o.Spec.InitContainers) {
		check := func(cs, olds []corev1.Container, path *field.Path, init bool) {
			for i := range cs {
				if cs[i].Name != olds[i].Name {
					continue
				}
				if init && !isSidecar(&olds[i]) && !equality.Semantic.DeepEqual(cs[i].Resources, olds[i].Resources) {
					errs = append(errs, field.Forbidden(path.Index(i).Child("resources"), "resize is not supported for init containers"))
				}
				names := sets.New[corev1.ResourceName]()
				for _, l := range []corev1.ResourceList{cs[i].Resources.Limits, cs[i].Resources.Requests, olds[i].Resources.Limits, olds[i].Resources.Requests} {
					for n := range l {
						names.Insert(n)
					}
				}
				for _, n := range sets.List(names) {
					if n != corev1.ResourceCPU && n != corev1.ResourceMemory && resourceChanged(cs[i].Resources, olds[i].Resources, n) {
						errs = append(errs, field.Forbidden(path.Index(i).Child("resources"), "only cpu and memory resources are mutable"))
					}
				}
				cs[i].Resources = olds[i].Resources
				cs[i].ResizePolicy = olds[i].ResizePolicy
			}
		}
		check(munged.Containers, o.Spec.Containers, specPath.Child("containers"), false)
		check(munged.InitContainers, o.Spec.InitContainers, specPath.Child("initContainers"), true)
	}
	if !equality.Semantic.DeepEqual(*munged, o.Spec) {
		errs = append(errs, field.Forbidden(specPath, "only cpu and memory resources are mutable"))
	}
	return uniqueErrors(errs)
}

func resourceChanged(a, b corev1.ResourceRequirements, n corev1.ResourceName) bool {
	al, aok := a.Limits[n]
	bl, bok := b.Limits[n]
	if aok != bok || (aok && al.Cmp(bl) != 0) {
		return true
	}
	ar, aok := a.Requests[n]
	br, bok := b.Requests[n]
	return aok != bok || (aok && ar.Cmp(br) != 0)
}

func uniqueErrors(errs field.ErrorList) field.ErrorList {
	seen := sets.New[string]()
	var out field.ErrorList
	for _, e := range errs {
		if !seen.Has(e.Error()) {
			seen.Insert(e.Error())
			out = append(out, e)
		}
	}
	return out
}

// clusterContext drops the namespace from ctx, to read cluster-scoped nodes.
func clusterContext(ctx context.Context) context.Context {
	return genericapirequest.WithNamespace(ctx, metav1.NamespaceNone)
}
