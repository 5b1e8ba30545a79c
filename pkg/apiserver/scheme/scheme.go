// Package scheme is the apiserver's runtime.Scheme: every k8s.io/api group skiff
// serves, registered at its served version and again as that group's internal version.
//
// skiff has no internal types of its own. The versioned Go types of k8s.io/api double as
// the internal ones, so conversion between the served and internal version is only a
// kind reset, and defaulting functions registered here (by the registry packages) run
// when a request body or a stored object is decoded, as upstream's defaulters do.
package scheme

import (
	"reflect"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

var (
	// Scheme holds every served type, external and internal.
	Scheme = runtime.NewScheme()
	// Codecs serializes to and from the Scheme's types.
	Codecs = serializer.NewCodecFactory(Scheme)
	// ParameterCodec decodes query parameters into option types.
	ParameterCodec = runtime.NewParameterCodec(Scheme)
	// External holds the served versions only; the OpenAPI definition namer uses it so
	// that __internal never shows in x-kubernetes-group-version-kind.
	External = runtime.NewScheme()
)

// GroupVersions are the served group versions, one per group, in discovery order.
var GroupVersions = []schema.GroupVersion{
	corev1.SchemeGroupVersion,
	admissionregistrationv1.SchemeGroupVersion,
	appsv1.SchemeGroupVersion,
	authenticationv1.SchemeGroupVersion,
	authorizationv1.SchemeGroupVersion,
	autoscalingv2.SchemeGroupVersion,
	batchv1.SchemeGroupVersion,
	certificatesv1.SchemeGroupVersion,
	coordinationv1.SchemeGroupVersion,
	discoveryv1.SchemeGroupVersion,
	eventsv1.SchemeGroupVersion,
	flowcontrolv1.SchemeGroupVersion,
	networkingv1.SchemeGroupVersion,
	nodev1.SchemeGroupVersion,
	policyv1.SchemeGroupVersion,
	rbacv1.SchemeGroupVersion,
	resourcev1.SchemeGroupVersion,
	schedulingv1.SchemeGroupVersion,
	storagev1.SchemeGroupVersion,
	storagemigrationv1.SchemeGroupVersion,
	metricsv1beta1.SchemeGroupVersion,
}

var adders = []func(*runtime.Scheme) error{
	corev1.AddToScheme,
	admissionregistrationv1.AddToScheme,
	appsv1.AddToScheme,
	authenticationv1.AddToScheme,
	authorizationv1.AddToScheme,
	autoscalingv2.AddToScheme,
	batchv1.AddToScheme,
	certificatesv1.AddToScheme,
	coordinationv1.AddToScheme,
	discoveryv1.AddToScheme,
	eventsv1.AddToScheme,
	flowcontrolv1.AddToScheme,
	networkingv1.AddToScheme,
	nodev1.AddToScheme,
	policyv1.AddToScheme,
	rbacv1.AddToScheme,
	resourcev1.AddToScheme,
	schedulingv1.AddToScheme,
	storagev1.AddToScheme,
	storagemigrationv1.AddToScheme,
	metricsv1beta1.AddToScheme,
}

// ScaleGroupVersion is the version of the Scale kind every scale subresource speaks.
var ScaleGroupVersion = autoscalingv1.SchemeGroupVersion

func init() {
	for _, s := range []*runtime.Scheme{Scheme, External} {
		for _, add := range adders {
			utilruntime.Must(add(s))
		}
		// The scale subresources speak autoscaling/v1 Scale, served beside autoscaling/v2.
		s.AddKnownTypes(autoscalingv1.SchemeGroupVersion, &autoscalingv1.Scale{})
		metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
		s.AddUnversionedTypes(schema.GroupVersion{Group: "", Version: "v1"},
			&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
	}
	for _, gv := range append(GroupVersions, autoscalingv1.SchemeGroupVersion) {
		addInternal(Scheme, gv)
	}
	for _, gv := range GroupVersions {
		utilruntime.Must(Scheme.SetVersionPriority(gv))
	}
}

// addInternal registers every type of gv again as gv's group's internal version.
func addInternal(s *runtime.Scheme, gv schema.GroupVersion) {
	internal := schema.GroupVersion{Group: gv.Group, Version: runtime.APIVersionInternal}
	metaPkg := reflect.TypeOf(metav1.Status{}).PkgPath()
	for kind, t := range s.KnownTypes(gv) {
		if t.PkgPath() == metaPkg {
			continue // ListOptions, WatchEvent, …: the apimachinery scheme handles these
		}
		s.AddKnownTypeWithName(internal.WithKind(kind), reflect.New(t).Interface().(runtime.Object))
	}
}
