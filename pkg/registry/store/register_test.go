package store

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestBuildRefusesUnregistered: a resource whose scheme functions were not added at
// init is refused before any store (and watch cache) exists, so registration can
// never race with decoding.
func TestBuildRefusesUnregistered(t *testing.T) {
	r := &Resource{Name: "podtemplates", Singular: "podtemplate", Namespaced: true,
		New: func() runtime.Object { return &corev1.PodTemplate{} }, NewList: func() runtime.Object { return &corev1.PodTemplateList{} }}
	if _, err := r.Build(nil); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("Build of an unregistered resource: %v", err)
	}
}
