package downward

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFieldValue(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1",
		Labels: map[string]string{"app": "x", "tier": "y"}, Annotations: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"}}
	hostIPs, podIPs := []string{"192.0.2.7"}, []string{"10.42.0.9", "fd00::9"}
	for path, want := range map[string]string{
		"metadata.name":             "web",
		"metadata.uid":              "u1",
		"metadata.labels['app']":    "x",
		"metadata.labels":           "app=\"x\"\ntier=\"y\"",
		"metadata.annotations['a']": "b",
		"metadata.annotations['z']": "",
		"spec.nodeName":             "n1",
		"spec.serviceAccountName":   "sa",
		"status.hostIP":             "192.0.2.7",
		"status.podIP":              "10.42.0.9",
		"status.podIPs":             "10.42.0.9,fd00::9",
	} {
		if got, err := FieldValue(pod, path, hostIPs, podIPs); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if got, _ := FieldValue(pod, "status.podIP", nil, nil); got != "" {
		t.Errorf("podIP without addresses: %q", got)
	}
	if _, err := FieldValue(pod, "spec.bogus", nil, nil); err == nil {
		t.Error("unknown field path accepted")
	}
}

func TestResourceValue(t *testing.T) {
	c := &corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}
	alloc := func() (corev1.ResourceList, error) {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}, nil
	}
	for _, tc := range []struct{ res, divisor, want string }{
		{"requests.cpu", "", "1"},     // 250m rounds up to one core
		{"requests.cpu", "1m", "250"}, // in millicores
		{"limits.cpu", "", "4"},       // unset limit: the node's allocatable
		{"limits.memory", "1Mi", "64"},
		{"limits.memory", "", "67108864"},
	} {
		ref := &corev1.ResourceFieldSelector{Resource: tc.res}
		if tc.divisor != "" {
			ref.Divisor = resource.MustParse(tc.divisor)
		}
		if got, err := ResourceValue(c, ref, alloc); err != nil || got != tc.want {
			t.Errorf("%s/%s = %q, %v; want %q", tc.res, tc.divisor, got, err, tc.want)
		}
	}
	if _, err := ResourceValue(c, &corev1.ResourceFieldSelector{Resource: "bogus"}, alloc); err == nil {
		t.Error("unknown resource accepted")
	}
	fail := func() (corev1.ResourceList, error) { return nil, errors.New("no node") }
	if _, err := ResourceValue(c, &corev1.ResourceFieldSelector{Resource: "limits.cpu"}, fail); err == nil {
		t.Error("allocatable error lost")
	}
	if _, err := ResourceValue(c, &corev1.ResourceFieldSelector{Resource: "requests.cpu"}, fail); err != nil {
		t.Errorf("a request needs no allocatable: %v", err)
	}
}
