package secret

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateByType(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    corev1.Secret
		want string
	}{
		{"opaque", corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": nil}}, ""},
		{"bad key", corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a/b": nil}}, "data[a/b]: Invalid value"},
		{"sa token", corev1.Secret{Type: corev1.SecretTypeServiceAccountToken}, "metadata.annotations[kubernetes.io/service-account.name]: Required value"},
		{"sa token ok", corev1.Secret{Type: corev1.SecretTypeServiceAccountToken,
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}}}, ""},
		{"dockerconfigjson missing", corev1.Secret{Type: corev1.SecretTypeDockerConfigJson}, "data[.dockerconfigjson]: Required value"},
		{"dockerconfigjson bad", corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("x")}},
			`data[.dockerconfigjson]: Invalid value: "<secret contents redacted>"`},
		{"dockerconfigjson ok", corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}}, ""},
		{"tls", corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil}}, "data[tls.key]: Required value"},
		{"basic-auth", corev1.Secret{Type: corev1.SecretTypeBasicAuth}, "data[username]: Required value"},
		{"basic-auth ok", corev1.Secret{Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"password": nil}}, ""},
		{"ssh-auth", corev1.Secret{Type: corev1.SecretTypeSSHAuth}, "data[ssh-privatekey]: Required value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(&tc.s)
			if tc.want == "" && len(errs) > 0 {
				t.Fatalf("unexpected %v", errs)
			}
			if tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)) {
				t.Fatalf("errors %v, want %q", errs, tc.want)
			}
		})
	}
}

func TestDefaultsUpdateAndRow(t *testing.T) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{"a": []byte("1")}}
	Resource.Defaults(s)
	if s.Type != corev1.SecretTypeOpaque {
		t.Fatalf("type %q", s.Type)
	}
	changed := s.DeepCopy()
	changed.Type = "other"
	if errs := ValidateUpdate(changed, s); !strings.Contains(errs.ToAggregate().Error(), "type: Invalid value: \"other\": field is immutable") {
		t.Fatalf("type change: %v", errs)
	}
	yes := true
	s.Immutable = &yes
	edit := s.DeepCopy()
	edit.Data["a"] = []byte("2")
	if errs := ValidateUpdate(edit, s); !strings.Contains(errs.ToAggregate().Error(), "data: Forbidden: field is immutable when `immutable` is set") {
		t.Fatalf("immutable edit: %v", errs)
	}
	if row := Resource.Row(s); row[1] != "Opaque" || row[2] != int64(1) {
		t.Fatalf("row %v", row)
	}
	withString := &corev1.Secret{StringData: map[string]string{"k": "v"}}
	foldStringData(withString)
	if string(withString.Data["k"]) != "v" || withString.StringData != nil {
		t.Fatal("stringData not folded into data")
	}
}
