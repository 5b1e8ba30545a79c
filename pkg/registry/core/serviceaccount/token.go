package serviceaccount

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
	sa "github.com/skiff-k8s/skiff/pkg/serviceaccount"
)

const (
	// defaultExpirationSeconds and minExpirationSeconds are upstream's TokenRequest bounds.
	defaultExpirationSeconds = 3600
	minExpirationSeconds     = 600
	maxExpirationSeconds     = 1 << 32
	// warnOnlyExpirationSeconds is what the kubelet asks for when it will accept a
	// token extended to a year with a warning after this time (upstream's
	// --service-account-extend-token-expiration, on by default).
	warnOnlyExpirationSeconds = 3607
	extendedExpirationSeconds = 24 * 365 * 60 * 60
)

// InstallToken adds serviceaccounts/token to a built core group. Pods, secrets and
// nodes of bound tokens are looked up in the group's storages when a token is asked for.
func InstallToken(g *store.Group, opts *store.Options) {
	g.Storage[Resource.Name+"/token"] = &TokenREST{
		storage: g.Storage, issuer: opts.TokenIssuer, audiences: opts.APIAudiences, now: time.Now}
}

// TokenREST creates TokenRequests for a service account.
type TokenREST struct {
	storage   map[string]rest.Storage
	issuer    store.TokenIssuer
	audiences []string
	now       func() time.Time
}

var (
	_ rest.NamedCreater             = &TokenREST{}
	_ rest.GroupVersionKindProvider = &TokenREST{}
	_ rest.SingularNameProvider     = &TokenREST{}
)

var tokenRequestKind = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// New implements rest.Storage.
func (r *TokenREST) New() runtime.Object { return &authenticationv1.TokenRequest{} }

// Destroy implements rest.Storage.
func (r *TokenREST) Destroy() {}

// GroupVersionKind implements rest.GroupVersionKindProvider.
func (r *TokenREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return tokenRequestKind
}

// GetSingularName implements rest.SingularNameProvider.
func (r *TokenREST) GetSingularName() string { return "serviceaccount" }

// Create issues a token for the service account name.
func (r *TokenREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	req := obj.(*authenticationv1.TokenRequest)
	if r.issuer == nil {
		return nil, apierrors.NewServiceUnavailable("service-account token issuing is not configured on this server")
	}
	Defaults(req)
	if errs := ValidateTokenRequest(req); len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestKind.GroupKind(), name, errs)
	}
	namespace := genericapirequest.NamespaceValue(ctx)
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	svcacct, err := get[*corev1.ServiceAccount](ctx, r.storage, "serviceaccounts", name)
	if err != nil {
		return nil, err
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}

	var binding sa.Binding
	if ref := req.Spec.BoundObjectRef; ref != nil {
		var uid types.UID
		gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
		switch gvk {
		case corev1.SchemeGroupVersion.WithKind("Pod"):
			pod, err := get[*corev1.Pod](ctx, r.storage, "pods", ref.Name)
			if err != nil {
				return nil, err
			}
			if pod.Spec.ServiceAccountName != name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", name))
			}
			binding.Pod, uid = pod, pod.UID
			if pod.Spec.NodeName != "" {
				binding.NodeName = pod.Spec.NodeName
				if node, err := get[*corev1.Node](genericapirequest.WithNamespace(ctx, ""), r.storage, "nodes", pod.Spec.NodeName); err == nil {
					binding.Node = node
				}
			}
		case corev1.SchemeGroupVersion.WithKind("Secret"):
			secret, err := get[*corev1.Secret](ctx, r.storage, "secrets", ref.Name)
			if err != nil {
				return nil, err
			}
			binding.Secret, uid = secret, secret.UID
		case corev1.SchemeGroupVersion.WithKind("Node"):
			node, err := get[*corev1.Node](genericapirequest.WithNamespace(ctx, ""), r.storage, "nodes", ref.Name)
			if err != nil {
				return nil, err
			}
			binding.Node, uid = node, node.UID
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
		}
		if ref.UID != "" && ref.UID != uid {
			return nil, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
				fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
		}
	}

	out := req.DeepCopy()
	if len(out.Spec.Audiences) == 0 {
		out.Spec.Audiences = append([]string(nil), r.audiences...)
	}
	now := r.now()
	exp := *out.Spec.ExpirationSeconds
	var warnAfter *time.Time
	if binding.Pod != nil && exp == warnOnlyExpirationSeconds {
		w := now.Add(time.Duration(exp) * time.Second)
		warnAfter, exp = &w, extendedExpirationSeconds
	}
	token, err := r.issuer.Issue(sa.BoundClaims(svcacct, binding, out.Spec.Audiences, exp, warnAfter, now))
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("issue token: %w", err))
	}
	out.Status = authenticationv1.TokenRequestStatus{
		Token:               token,
		ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(*out.Spec.ExpirationSeconds) * time.Second)),
	}
	return out, nil
}

// get fetches name from the group's storage of resource, with the request's namespace.
func get[T runtime.Object](ctx context.Context, storage map[string]rest.Storage, resource, name string) (T, error) {
	var zero T
	getter, ok := storage[resource].(rest.Getter)
	if !ok {
		return zero, apierrors.NewServiceUnavailable(fmt.Sprintf("%s are not served", resource))
	}
	// The request is for serviceaccounts/token; errors must name the object looked up.
	ctx = genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{IsResourceRequest: true, Verb: "get",
		APIVersion: "v1", Resource: resource, Namespace: genericapirequest.NamespaceValue(ctx), Name: name})
	obj, err := getter.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, apierrors.NewInternalError(fmt.Errorf("%s %q is a %T", resource, name, obj))
	}
	return t, nil
}

// Defaults applies the TokenRequest defaults: an hour.
func Defaults(req *authenticationv1.TokenRequest) {
	if req.Spec.ExpirationSeconds == nil {
		e := int64(defaultExpirationSeconds)
		req.Spec.ExpirationSeconds = &e
	}
}

// ValidateTokenRequest checks the requested duration, with upstream's messages.
func ValidateTokenRequest(req *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	if e := req.Spec.ExpirationSeconds; e != nil {
		if *e < minExpirationSeconds {
			errs = append(errs, field.Invalid(p, *e, "may not specify a duration less than 10 minutes"))
		}
		if *e > maxExpirationSeconds {
			errs = append(errs, field.Invalid(p, *e, "may not specify a duration larger than 2^32 seconds"))
		}
	}
	if ref := req.Spec.BoundObjectRef; ref != nil {
		if ref.Name == "" {
			errs = append(errs, field.Required(field.NewPath("spec", "boundObjectRef", "name"), ""))
		}
	}
	return errs
}
