package kubelet

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// dockerConfigEntry is one registry's credentials in a docker config.
type dockerConfigEntry struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// pullAuths returns the credentials the pod's imagePullSecrets hold for the
// image's registry, in the secrets' order (upstream tries each until a pull
// succeeds; the first match is used here). Missing secrets are skipped, as
// upstream does (with a warning event).
func (k *Kubelet) pullAuth(ctx context.Context, pod *corev1.Pod, image string) *runtime.Auth {
	named, err := runtime.NormalizeImageRef(image)
	if err != nil {
		return nil
	}
	host := strings.SplitN(named, "/", 2)[0]
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := k.sources.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedToRetrieveImagePullSecret",
				"Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", ref.Name)
			continue
		}
		if a := authFromSecret(s, host); a != nil {
			return a
		}
	}
	return nil
}

// authFromSecret finds host's entry in a kubernetes.io/dockerconfigjson or
// kubernetes.io/dockercfg secret. Keys may be bare hosts or URLs; Docker
// Hub's legacy key https://index.docker.io/v1/ matches docker.io.
func authFromSecret(s *corev1.Secret, host string) *runtime.Auth {
	var entries map[string]dockerConfigEntry
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		if json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg) != nil {
			return nil
		}
		entries = cfg.Auths
	case corev1.SecretTypeDockercfg:
		if json.Unmarshal(s.Data[corev1.DockerConfigKey], &entries) != nil {
			return nil
		}
	default:
		return nil
	}
	for key, e := range entries {
		if registryHost(key) == host {
			return &runtime.Auth{Username: e.Username, Password: e.Password, Auth: e.Auth, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
		}
	}
	return nil
}

// registryHost is the host a docker config key names.
func registryHost(key string) string {
	h := key
	if strings.Contains(key, "://") {
		if u, err := url.Parse(key); err == nil {
			h = u.Host
		}
	} else {
		h = strings.SplitN(key, "/", 2)[0]
	}
	switch h {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return h
}
