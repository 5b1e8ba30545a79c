// Package event serves core/v1 Events: names are any path segment, PUT may create,
// stored events expire after an hour (as upstream's --event-ttl default), the field
// selectors kubectl and controllers use, and kubectl's event table.
package event

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// TTL is how long an event is kept after its last write.
const TTL = time.Hour

var fieldLabels = []string{
	"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
	"involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
	"reason", "reportingComponent", "source", "type",
}

// Resource is events.
var Resource = &store.Resource{
	Name: "events", Singular: "event", Namespaced: true, ShortNames: []string{"ev"},
	New:                 func() runtime.Object { return &corev1.Event{} },
	NewList:             func() runtime.Object { return &corev1.EventList{} },
	ValidateName:        store.PathSegment,
	AllowCreateOnUpdate: true,
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*corev1.Event))
	},
	Fields:      func(obj runtime.Object) fields.Set { return Fields(obj.(*corev1.Event)) },
	FieldLabels: fieldLabels,
	Columns:     Columns,
	Row:         func(obj runtime.Object) []any { return Row(obj.(*corev1.Event)) },
	Customize:   ExpireAfterTTL,
}

// ExpireAfterTTL makes stored events expire TTL after their last write; Events of both
// APIs share it.
func ExpireAfterTTL(s *genericregistry.Store) error {
	s.TTLFunc = func(runtime.Object, uint64, bool) (uint64, error) { return uint64(TTL.Seconds()), nil }
	return nil
}

// Columns are kubectl's event table, for Events of both APIs (they share storage).
var Columns = []metav1.TableColumnDefinition{
	{Name: "Last Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["lastTimestamp"]},
	{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
	{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
	{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
	store.Wide(metav1.TableColumnDefinition{Name: "Subobject", Type: "string", Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]}),
	store.Wide(metav1.TableColumnDefinition{Name: "Source", Type: "string", Description: corev1.Event{}.SwaggerDoc()["source"]}),
	{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
	store.Wide(metav1.TableColumnDefinition{Name: "First Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["firstTimestamp"]}),
	store.Wide(metav1.TableColumnDefinition{Name: "Count", Type: "string", Description: corev1.Event{}.SwaggerDoc()["count"]}),
	store.Wide(store.NameColumn),
}

// Fields are the selectable fields of an Event, as upstream.
func Fields(e *corev1.Event) fields.Set {
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         source,
		"type":                           e.Type,
	}
}

// Validate applies upstream's rules for core/v1 events: the namespace matches the
// involved object's, and events with eventTime carry the reporting fields.
func Validate(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	if e.EventTime.IsZero() {
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		if e.ReportingController == "" {
			errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
		}
		errs = append(errs, metav1validation.ValidateLabelName(e.ReportingController, field.NewPath("reportingController"))...)
		errs = append(errs, requiredMax(e.ReportingInstance, "reportingInstance", 128)...)
		errs = append(errs, requiredMax(e.Action, "action", 128)...)
		errs = append(errs, requiredMax(e.Reason, "reason", 128)...)
		if len(e.Message) > 1024 {
			errs = append(errs, field.Invalid(field.NewPath("message"), "", "can have at most 1024 characters"))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(e.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("namespace"), e.Namespace, msg))
	}
	if e.Type != "" && e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning && !e.EventTime.IsZero() {
		errs = append(errs, field.NotSupported(field.NewPath("type"), e.Type, []string{corev1.EventTypeNormal, corev1.EventTypeWarning}))
	}
	return errs
}

func requiredMax(v, name string, max int) field.ErrorList {
	p := field.NewPath(name)
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if len(v) > max {
		return field.ErrorList{field.Invalid(p, "", fmt.Sprintf("can have at most %d characters", max))}
	}
	return nil
}

func since(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t))
}

// Row prints an Event as kubectl does.
func Row(e *corev1.Event) []any {
	first := since(e.FirstTimestamp.Time)
	if e.FirstTimestamp.IsZero() {
		first = since(e.EventTime.Time)
	}
	last := since(e.LastTimestamp.Time)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = since(e.Series.LastObservedTime.Time)
		count = e.Series.Count
	} else if count == 0 {
		count = 1
	}
	object := fmt.Sprintf("%s/%s", strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name)
	return []any{last, e.Type, e.Reason, object, e.InvolvedObject.FieldPath,
		source(e), strings.TrimSpace(e.Message), first, int64(count), e.Name}
}

func source(e *corev1.Event) string {
	component, host := e.Source.Component, e.Source.Host
	if component == "" {
		component, host = e.ReportingController, e.ReportingInstance
	}
	if host != "" {
		return component + ", " + host
	}
	return component
}
