package event

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	ok := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "default"}}
	if errs := Validate(ok); len(errs) > 0 {
		t.Fatal(errs)
	}
	bad := ok.DeepCopy()
	bad.InvolvedObject.Namespace = "other"
	if errs := Validate(bad); !strings.Contains(errs.ToAggregate().Error(), `involvedObject.namespace: Invalid value: "other": does not match event.namespace`) {
		t.Fatal(errs)
	}
	node := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"}, InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n"}}
	if errs := Validate(node); len(errs) > 0 {
		t.Fatalf("cluster-scoped object in default: %v", errs)
	}
	series := ok.DeepCopy()
	series.EventTime = metav1.NewMicroTime(time.Now())
	msg := Validate(series).ToAggregate().Error()
	for _, want := range []string{"reportingController: Required value", "reportingInstance: Required value", "action: Required value", "reason: Required value"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q missing from %q", want, msg)
		}
	}
}

func TestFieldsAndRow(t *testing.T) {
	e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "p.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", FieldPath: "spec.containers{c}"},
		Reason:         "Pulled", Type: "Normal", Message: " done \n", ReportingController: "kubelet", ReportingInstance: "n1",
		FirstTimestamp: metav1.NewTime(time.Now().Add(-2 * time.Minute)), LastTimestamp: metav1.NewTime(time.Now().Add(-time.Minute)), Count: 4}
	f := Fields(e)
	if f["source"] != "kubelet" || f["reportingComponent"] != "kubelet" || f["involvedObject.fieldPath"] != "spec.containers{c}" {
		t.Fatalf("fields %v", f)
	}
	row := Row(e)
	want := []any{"60s", "Normal", "Pulled", "pod/p", "spec.containers{c}", "kubelet, n1", "done", "2m", int64(4), "p.1"}
	for i := range want {
		if row[i] != want[i] {
			t.Errorf("cell %d = %v, want %v", i, row[i], want[i])
		}
	}
	if len(row) != len(Resource.Columns) {
		t.Fatalf("%d cells for %d columns", len(row), len(Resource.Columns))
	}
	noTimes := &corev1.Event{}
	if r := Row(noTimes); r[0] != "<unknown>" || r[8] != int64(1) {
		t.Fatalf("row without timestamps %v", r)
	}
}
