package controllerrevision

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestValidate(t *testing.T) {
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-7d", Namespace: "default"}, Revision: -1}
	errs := Resource.Validate(context.Background(), cr)
	if len(errs) != 2 || errs[0].Field != "data" || errs[0].Detail != "data is mandatory" || errs[1].Field != "revision" {
		t.Errorf("got %v", errs)
	}
	cr.Revision = 1
	cr.Data = runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}
	if errs := Resource.Validate(context.Background(), cr); len(errs) != 0 {
		t.Errorf("valid: %v", errs)
	}
	renumbered := cr.DeepCopy()
	renumbered.Revision = 4
	if errs := Resource.ValidateUpdate(context.Background(), renumbered, cr); len(errs) != 0 {
		t.Errorf("revision renumbering rejected: %v", errs)
	}
	changed := cr.DeepCopy()
	changed.Data.Raw = []byte(`{"spec":{"x":1}}`)
	if errs := Resource.ValidateUpdate(context.Background(), changed, cr); len(errs) != 1 || errs[0].Field != "data" || errs[0].Detail != "field is immutable" {
		t.Errorf("data change: %v", errs)
	}
}

func TestRow(t *testing.T) {
	yes := true
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-7d", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: &yes}}}, Revision: 2}
	row := Resource.Row(cr)
	if row[1] != "statefulset.apps/web" || row[2] != int64(2) {
		t.Errorf("row = %v", row)
	}
	cr.OwnerReferences = nil
	if row := Resource.Row(cr); row[1] != "<none>" {
		t.Errorf("no owner: %v", row)
	}
}
