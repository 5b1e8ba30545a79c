package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [small, large]}
              replicas: {type: integer, minimum: 0}
          status:
            type: object
            properties:
              replicas: {type: integer}
`

func TestCustomResources(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	// A private discovery cache: the shared one must not remember a kind this test
	// deletes, or later `kubectl get all` would ask for it (category all).
	cache := []string{"--cache-dir", t.TempDir()}
	kubectl := func(args ...string) string { return srv.Kubectl(t, append(cache, args...)...) }
	if out, err := srv.KubectlErr("", widgetCRD, append(cache, "apply", "-f", "-")...); err != nil {
		t.Fatalf("apply CRD: %v\n%s", err, out)
	}
	kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.example.com")
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w1"},
		"spec":     map[string]any{"size": "small", "replicas": int64(1)},
	}}
	var err error
	eventually(t, 30*time.Second, func() error {
		_, err = srv.Dynamic.Resource(gvr).Namespace(ns).Create(ctx, w, metav1.CreateOptions{})
		return err
	})
	bad := w.DeepCopy()
	bad.SetName("w2")
	bad.Object["spec"] = map[string]any{"size": "huge"}
	_, err = srv.Dynamic.Resource(gvr).Namespace(ns).Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.size") {
		t.Fatalf("schema violation: %v, want 422 on spec.size", err)
	}
	out := kubectl("get", "widgets", "-n", ns)
	if !strings.Contains(out, "SIZE") || !strings.Contains(out, "REPLICAS") || !strings.Contains(out, "small") {
		t.Fatalf("printer columns missing:\n%s", out)
	}
	kubectl("scale", "widget/w1", "-n", ns, "--replicas=3")
	got, err := srv.Dynamic.Resource(gvr).Namespace(ns).Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); r != 3 {
		t.Fatalf("replicas after scale = %d", r)
	}
	// Status goes only through /status.
	got.Object["status"] = map[string]any{"replicas": int64(3)}
	upd, err := srv.Dynamic.Resource(gvr).Namespace(ns).Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedInt64(upd.Object, "status", "replicas"); found {
		t.Fatal("status written through the main resource")
	}
	if _, err := srv.Dynamic.Resource(gvr).Namespace(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status: %v", err)
	}
	// Discovery lists the custom group and its short name.
	eventually(t, 30*time.Second, func() error {
		out, err := srv.KubectlErr("", "", append(cache, "api-resources", "--api-group=example.com")...)
		if err != nil || !strings.Contains(out, "wd") {
			return fmt.Errorf("api-resources: %v %s", err, out)
		}
		return nil
	})
	kubectl("delete", "crd", "widgets.example.com", "--wait=true", "--timeout=60s")
}
