package integration

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestServerSideApply(t *testing.T) {
	ns := newNamespace(t)
	ctx := ctxT(t)
	cms := srv.Client.CoreV1().ConfigMaps(ns)
	apply := func(manager, body string, force bool) error {
		_, err := cms.Patch(ctx, "ssa", types.ApplyPatchType, []byte(body), metav1.PatchOptions{FieldManager: manager, Force: &force})
		return err
	}
	if err := apply("alice", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"1"}}`, false); err != nil {
		t.Fatal(err)
	}
	err := apply("bob", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"2"}}`, false)
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "alice") {
		t.Fatalf("conflicting apply: %v, want 409 naming alice", err)
	}
	if err := apply("bob", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"2","b":"x"}}`, true); err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	cm, err := cms.Get(ctx, "ssa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["a"] != "2" || cm.Data["b"] != "x" {
		t.Fatalf("data = %v", cm.Data)
	}
	managers := map[string]bool{}
	for _, m := range cm.ManagedFields {
		managers[m.Manager] = true
	}
	if !managers["bob"] {
		t.Fatalf("managedFields lack bob: %v", cm.ManagedFields)
	}
	// Apply with an invalid object is refused whole.
	if err := apply("carol", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"bad key":"1"}}`, true); !apierrors.IsInvalid(err) {
		t.Fatalf("invalid apply: %v, want 422", err)
	}
}
