package event

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newEvent() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "x.1", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: "skiff.io/scheduler", ReportingInstance: "node-1",
		Action: "Binding", Reason: "Scheduled", Type: corev1.EventTypeNormal, Note: "assigned",
		Regarding: corev1.ObjectReference{Kind: "Pod", Name: "x", Namespace: "default"},
	}
}

func errorKeys(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func TestValidate(t *testing.T) {
	if errs := Resource.Validate(context.Background(), newEvent()); len(errs) != 0 {
		t.Fatalf("valid: %v", errs)
	}
	e := newEvent()
	e.EventTime = metav1.MicroTime{}
	e.Type = "Bogus"
	e.DeprecatedCount = 2
	e.Series = &eventsv1.EventSeries{Count: 1}
	want := []string{"FieldValueInvalid series.count", "FieldValueRequired series.lastObservedTime",
		"FieldValueRequired eventTime", "FieldValueInvalid type", "FieldValueInvalid deprecatedCount"}
	if got := errorKeys(Resource.Validate(context.Background(), e)); !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
	old := newEvent()
	upd := old.DeepCopy()
	upd.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Now())}
	if errs := Resource.ValidateUpdate(context.Background(), upd, old); len(errs) != 0 {
		t.Errorf("series update: %v", errs)
	}
	upd.Note = "changed"
	if got := errorKeys(Resource.ValidateUpdate(context.Background(), upd, old)); !slices.Equal(got, []string{"FieldValueInvalid message"}) {
		t.Errorf("note change: %v", got)
	}
}

func TestConversionRoundTrip(t *testing.T) {
	e := newEvent()
	rel := corev1.ObjectReference{Kind: "Node", Name: "n"}
	e.Related = &rel
	e.Series = &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(time.Now())}
	c := ToCore(e)
	if c.InvolvedObject.Name != "x" || c.Message != "assigned" || c.Series.Count != 3 {
		t.Errorf("core = %+v", c)
	}
	var back eventsv1.Event
	FromCore(c, &back)
	if !equality.Semantic.DeepEqual(*e, back) {
		t.Errorf("round trip differs:\n%+v\n%+v", *e, back)
	}
}

func TestCodecStoresCoreEvents(t *testing.T) {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	inner := serializer.NewCodecFactory(s).LegacyCodec(corev1.SchemeGroupVersion)
	codec := &coreEventCodec{inner: inner}
	var buf bytes.Buffer
	if err := codec.Encode(newEvent(), &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"involvedObject"`)) || !bytes.Contains(buf.Bytes(), []byte(`"apiVersion":"v1"`)) {
		t.Errorf("stored = %s", buf.String())
	}
	into := &eventsv1.Event{}
	if _, _, err := codec.Decode(buf.Bytes(), nil, into); err != nil || into.Regarding.Name != "x" || into.Note != "assigned" {
		t.Errorf("decode into: %v %+v", err, into)
	}
	obj, _, err := codec.Decode(buf.Bytes(), nil, nil)
	if e, ok := obj.(*eventsv1.Event); err != nil || !ok || e.Reason != "Scheduled" {
		t.Errorf("decode: %v %T", err, obj)
	}
}

func TestRow(t *testing.T) {
	e := newEvent()
	row := Resource.Row(e)
	want := []any{row[0], "Normal", "Scheduled", "pod/x", "", "skiff.io/scheduler, node-1", "assigned", row[7], int64(1), "x.1"}
	if !slices.Equal(row, want) || len(row) != len(Resource.Columns) {
		t.Errorf("row = %v", row)
	}
	e.DeprecatedSource = corev1.EventSource{Component: "kubelet"}
	e.DeprecatedCount = 4
	if row := Resource.Row(e); row[5] != "kubelet, node-1" || row[8] != int64(4) {
		t.Errorf("legacy row = %v", row)
	}
}
