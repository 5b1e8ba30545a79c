// Package serviceaccount is the ServiceAccount admission plugin, as kube-apiserver's
// (plugin/pkg/admission/serviceaccount). On pod creation it
//
//   - sets spec.serviceAccountName to "default" when the pod names none;
//   - refuses the pod when its service account does not exist;
//   - unless the pod or its service account opts out with automountServiceAccountToken,
//     adds the projected volume kube-api-access-<random> (a bound token, the cluster CA
//     from the kube-root-ca.crt ConfigMap, the namespace) and mounts it read-only at
//     /var/run/secrets/kubernetes.io/serviceaccount in every container and init
//     container that does not already mount something there;
//   - copies the service account's imagePullSecrets when the pod has none.
//
// Mirror pods are left unchanged but may not reference service accounts, secrets or
// token projections. Adding ephemeral containers requires the pod's service account to
// exist. The deprecated kubernetes.io/enforce-mountable-secrets annotation is not
// honoured.
//
//	plugins := admission.NewPlugins()
//	serviceaccount.Register(plugins)
package serviceaccount

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

const (
	// PluginName is the name kube-apiserver gives this plugin.
	PluginName = "ServiceAccount"
	// DefaultServiceAccountName is the service account of pods that name none.
	DefaultServiceAccountName = "default"
	// ServiceAccountVolumeName prefixes the name of the token volume added to pods.
	ServiceAccountVolumeName = "kube-api-access"
	// DefaultAPITokenMountPath is where containers find the token, CA and namespace.
	DefaultAPITokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// RootCAConfigMap is the ConfigMap the root CA publisher keeps in every namespace.
	RootCAConfigMap = "kube-root-ca.crt"

	// tokenExpirationSeconds is upstream's WarnOnlyBoundTokenExpirationSeconds (1h7s):
	// the issuer recognises this exact lifetime as an automounted token.
	tokenExpirationSeconds = 60*60 + 7
	// defaultLookups is how often the default service account is looked up before the
	// pod is refused: the serviceaccount controller creates it just after a namespace.
	defaultLookups = 10
)

// Register registers the plugin.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) { return New(), nil })
}

// Plugin is the ServiceAccount admission plugin.
type Plugin struct {
	*admission.Handler
	client         kubernetes.Interface
	serviceAccount corelisters.ServiceAccountLister
	generateName   func(base string) string
	// retryInterval is the pause between live lookups of a missing default account.
	retryInterval func() time.Duration
}

var (
	_ admission.MutationInterface                  = &Plugin{}
	_ admission.ValidationInterface                = &Plugin{}
	_ initializer.WantsExternalKubeClientSet       = &Plugin{}
	_ initializer.WantsExternalKubeInformerFactory = &Plugin{}
)

// New returns the plugin; the admission initializers give it a client and informers.
func New() *Plugin {
	return &Plugin{
		Handler:      admission.NewHandler(admission.Create, admission.Update),
		generateName: names.SimpleNameGenerator.GenerateName,
		retryInterval: func() time.Duration {
			return time.Duration(100+rand.IntN(100)) * time.Millisecond
		},
	}
}

// SetExternalKubeClientSet sets the client of live lookups.
func (s *Plugin) SetExternalKubeClientSet(c kubernetes.Interface) { s.client = c }

// SetExternalKubeInformerFactory sets the service account lister.
func (s *Plugin) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	inf := f.Core().V1().ServiceAccounts()
	s.serviceAccount = inf.Lister()
	s.SetReadyFunc(inf.Informer().HasSynced)
}

// ValidateInitialization checks the initializers did their work.
func (s *Plugin) ValidateInitialization() error {
	if s.client == nil {
		return fmt.Errorf("missing client")
	}
	if s.serviceAccount == nil {
		return fmt.Errorf("missing serviceAccountLister")
	}
	return nil
}

// Admit defaults the service account and mounts its token into a new pod.
func (s *Plugin) Admit(ctx context.Context, a admission.Attributes, o admission.ObjectInterfaces) error {
	pod := podOf(a)
	if pod == nil || a.GetOperation() != admission.Create {
		return nil
	}
	// The v1 API reads the deprecated spec.serviceAccount when serviceAccountName is
	// empty, as upstream's conversion does.
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = pod.Spec.DeprecatedServiceAccount
	}
	// A mirror pod's spec must stay what the kubelet wrote, or the kubelet deletes it.
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return s.Validate(ctx, a, o)
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccountName
	}
	// Upstream's conversion writes the deprecated alias back on every read.
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName

	sa, err := s.getServiceAccount(ctx, a.GetNamespace(), pod.Spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.GetNamespace(), pod.Spec.ServiceAccountName, err))
	}
	if shouldAutomount(sa, pod) {
		s.mountServiceAccountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, ref := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets[i].Name = ref.Name
		}
	}
	return s.Validate(ctx, a, o)
}

// Validate checks what the pod references: mirror pods reference no service account
// and no secret, other pods an existing service account.
func (s *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	pod := podOf(a)
	if pod == nil {
		return nil
	}
	switch {
	case a.GetOperation() == admission.Update && a.GetSubresource() == "ephemeralcontainers":
		return s.requireServiceAccount(ctx, a, pod)
	case a.GetOperation() != admission.Create:
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return validateMirrorPod(a, pod)
	}
	return s.requireServiceAccount(ctx, a, pod)
}

func (s *Plugin) requireServiceAccount(ctx context.Context, a admission.Attributes, pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName == "" {
		return admission.NewForbidden(a, fmt.Errorf("no service account specified for pod %s/%s", a.GetNamespace(), pod.Name))
	}
	if _, err := s.getServiceAccount(ctx, a.GetNamespace(), pod.Spec.ServiceAccountName); err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.GetNamespace(), pod.Spec.ServiceAccountName, err))
	}
	return nil
}

func validateMirrorPod(a admission.Attributes, pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName != "" {
		return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not reference service accounts"))
	}
	if referencesSecrets(pod) {
		return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not reference secrets"))
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				return admission.NewForbidden(a, fmt.Errorf("a mirror pod may not use ServiceAccountToken volume projections"))
			}
		}
	}
	return nil
}

// podOf returns the pod of a request this plugin looks at: pods themselves and their
// ephemeralcontainers subresource.
func podOf(a admission.Attributes) *corev1.Pod {
	if a.GetResource().GroupResource() != corev1.Resource("pods") {
		return nil
	}
	if sub := a.GetSubresource(); sub != "" && sub != "ephemeralcontainers" {
		return nil
	}
	pod, _ := a.GetObject().(*corev1.Pod)
	return pod
}

// shouldAutomount: the pod's choice wins, then the service account's; the default is
// to mount.
func shouldAutomount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// getServiceAccount looks in the informer cache first, then asks the server: the
// account may have been created a moment ago (for "default", by the serviceaccount
// controller right after its namespace), so that one is asked for a few times.
func (s *Plugin) getServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa, err := s.serviceAccount.ServiceAccounts(namespace).Get(name)
	if err == nil {
		return sa, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	attempts := 1
	if name == DefaultServiceAccountName {
		attempts = defaultLookups
	}
	pause := s.retryInterval()
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(pause):
			}
		}
		sa, err := s.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("serviceaccount"), name)
}

// mountServiceAccountToken mounts the token volume in every container and init
// container that has nothing at the token path, adding the volume when one needs it.
// A volume already named kube-api-access-* is reused.
func (s *Plugin) mountServiceAccountToken(pod *corev1.Pod) {
	volumeName := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, ServiceAccountVolumeName+"-") {
			volumeName = v.Name
			break
		}
	}
	hasVolume := volumeName != ""
	if !hasVolume {
		volumeName = s.generateName(ServiceAccountVolumeName + "-")
	}
	mount := corev1.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: DefaultAPITokenMountPath}
	needed := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !mountsTokenPath(cs[i].VolumeMounts) {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: volumeName,
			VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()}})
	}
}

func mountsTokenPath(mounts []corev1.VolumeMount) bool {
	for _, m := range mounts {
		if m.MountPath == DefaultAPITokenMountPath {
			return true
		}
	}
	return false
}

// TokenVolumeSource is the projected volume of an automounted service account token.
func TokenVolumeSource() *corev1.ProjectedVolumeSource {
	expiration := int64(tokenExpirationSeconds)
	mode := corev1.ProjectedVolumeSourceDefaultMode
	return &corev1.ProjectedVolumeSource{
		// Set explicitly, as upstream does, so the spec reads the same before and
		// after defaulting.
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &expiration}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path:     "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}
}
