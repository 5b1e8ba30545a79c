package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestAuthFromSecret(t *testing.T) {
	s := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
		corev1.DockerConfigJsonKey: []byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"reg.example:5000":{"username":"u","password":"p"}}}`),
	}}
	if a := authFromSecret(s, "docker.io"); a == nil || a.Auth != "dXNlcjpwYXNz" {
		t.Errorf("docker.io: %+v", a)
	}
	if a := authFromSecret(s, "reg.example:5000"); a == nil || a.Username != "u" || a.Password != "p" {
		t.Errorf("reg.example:5000: %+v", a)
	}
	if a := authFromSecret(s, "other.example"); a != nil {
		t.Errorf("other.example: %+v", a)
	}
	legacy := &corev1.Secret{Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{
		corev1.DockerConfigKey: []byte(`{"quay.io":{"username":"q","password":"w"}}`),
	}}
	if a := authFromSecret(legacy, "quay.io"); a == nil || a.Username != "q" {
		t.Errorf("dockercfg: %+v", a)
	}
}
