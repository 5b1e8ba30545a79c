package componentstatus

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
)

func TestListGetAndRows(t *testing.T) {
	r := New(map[string]Probe{
		"etcd-0":    func(context.Context) (bool, string, string) { return true, `{"health":"true","reason":""}`, "" },
		"scheduler": func(context.Context) (bool, string, string) { return false, "", "connection refused" },
	})
	obj, err := r.List(context.Background(), &metainternalversion.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list := obj.(*corev1.ComponentStatusList)
	if len(list.Items) != 2 || list.Items[0].Name != "etcd-0" || list.Items[1].Name != "scheduler" {
		t.Fatalf("items %+v", list.Items)
	}
	if row := Row(&list.Items[0]); row[1] != "Healthy" || row[2] != `{"health":"true","reason":""}` {
		t.Fatalf("row %v", row)
	}
	if row := Row(&list.Items[1]); row[1] != "Unhealthy" || row[3] != "connection refused" {
		t.Fatalf("row %v", row)
	}
	if _, err := r.Get(context.Background(), "nope", nil); err == nil {
		t.Fatal("unknown component found")
	}
	if row := Row(&corev1.ComponentStatus{}); row[1] != "Unknown" {
		t.Fatalf("no conditions: %v", row)
	}
}
