// Package event serves events.k8s.io/v1 Events. They share storage with core/v1 Events
// (see SharedStorage): an event written through either API is read through both.
// Validation is upstream's strict events.k8s.io/v1 validation.
package event

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	coreevent "github.com/skiff-k8s/skiff/pkg/registry/core/event"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// TTL is how long an event is kept after its last write, as kube-apiserver's --event-ttl:
// the same as core/v1 Events, whose storage these share.
const TTL = coreevent.TTL

// Length limits of the free-text fields, as upstream.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// Resource is events (events.k8s.io).
var Resource = &store.Resource{
	Name: "events", Singular: "event", Namespaced: true, ShortNames: []string{"ev"},
	New:     func() runtime.Object { return &eventsv1.Event{} },
	NewList: func() runtime.Object { return &eventsv1.EventList{} },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*eventsv1.Event))
	},
	ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		return ValidateUpdate(obj.(*eventsv1.Event), old.(*eventsv1.Event))
	},
	Fields: func(obj runtime.Object) fields.Set {
		e := obj.(*eventsv1.Event)
		return fields.Set{
			"regarding.kind":            e.Regarding.Kind,
			"regarding.namespace":       e.Regarding.Namespace,
			"regarding.name":            e.Regarding.Name,
			"regarding.uid":             string(e.Regarding.UID),
			"regarding.apiVersion":      e.Regarding.APIVersion,
			"regarding.resourceVersion": e.Regarding.ResourceVersion,
			"regarding.fieldPath":       e.Regarding.FieldPath,
			"reason":                    e.Reason,
			"reportingController":       e.ReportingController,
			"type":                      e.Type,
		}
	},
	FieldLabels: []string{"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
		"regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath", "reason", "reportingController", "type"},
	Customize: coreevent.ExpireAfterTTL,
	Columns:   coreevent.Columns,
	Row:       func(obj runtime.Object) []any { return Row(obj.(*eventsv1.Event)) },
}

// Row prints an event as kubectl's event table does.
func Row(e *eventsv1.Event) []any {
	first := store.Age(e.DeprecatedFirstTimestamp)
	if e.DeprecatedFirstTimestamp.IsZero() {
		first = microAge(e.EventTime)
	}
	last := store.Age(e.DeprecatedLastTimestamp)
	if e.DeprecatedLastTimestamp.IsZero() {
		last = first
	}
	count := e.DeprecatedCount
	if e.Series != nil {
		last = microAge(e.Series.LastObservedTime)
		count = e.Series.Count
	} else if count == 0 {
		count = 1 // singleton events have no count in this API
	}
	target := strings.ToLower(e.Regarding.Kind)
	if e.Regarding.Name != "" {
		target += "/" + e.Regarding.Name
	}
	return []any{last, e.Type, e.Reason, target, e.Regarding.FieldPath,
		source(e), strings.TrimSpace(e.Note), first, int64(count), e.Name}
}

func microAge(t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return store.Age(metav1.NewTime(t.Time))
}

func source(e *eventsv1.Event) string {
	component := e.DeprecatedSource.Component
	if component == "" {
		component = e.ReportingController
	}
	instance := e.DeprecatedSource.Host
	if instance == "" {
		instance = e.ReportingInstance
	}
	switch {
	case component == "":
		return ""
	case instance == "":
		return component
	}
	return component + ", " + instance
}

// Validate applies upstream's events.k8s.io/v1 create validation.
func Validate(e *eventsv1.Event) field.ErrorList {
	errs := validateCommon(e)
	errs = append(errs, validateSeries(e)...)
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	if !e.DeprecatedFirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !e.DeprecatedLastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if e.DeprecatedCount != 0 {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedCount"), "", "needs to be unset"))
	}
	if e.DeprecatedSource.Component != "" || e.DeprecatedSource.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	return errs
}

// validateCommon holds the checks every event passes, whichever API wrote it.
func validateCommon(e *eventsv1.Event) field.ErrorList {
	var errs field.ErrorList
	if e.EventTime.IsZero() {
		if e.Regarding.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), e.Regarding.Namespace, "does not match event.namespace"))
			}
		} else if e.Namespace != e.Regarding.Namespace {
			errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), e.Regarding.Namespace, "does not match event.namespace"))
		}
	} else {
		if e.Regarding.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), e.Regarding.Namespace, "does not match event.namespace"))
		}
		rc := field.NewPath("reportingController")
		if e.ReportingController == "" {
			errs = append(errs, field.Required(rc, ""))
		}
		for _, msg := range validation.IsQualifiedName(e.ReportingController) {
			errs = append(errs, field.Invalid(rc, e.ReportingController, msg))
		}
		errs = append(errs, requiredWithin(e.ReportingInstance, reportingInstanceLengthLimit, field.NewPath("reportingInstance"))...)
		errs = append(errs, requiredWithin(e.Action, actionLengthLimit, field.NewPath("action"))...)
		errs = append(errs, requiredWithin(e.Reason, reasonLengthLimit, field.NewPath("reason"))...)
		if len(e.Note) > noteLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath("note"), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(e.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("namespace"), e.Namespace, msg))
	}
	return errs
}

func requiredWithin(v string, limit int, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if len(v) > limit {
		return field.ErrorList{field.Invalid(p, "", fmt.Sprintf("can have at most %v characters", limit))}
	}
	return nil
}

func validateSeries(e *eventsv1.Event) field.ErrorList {
	var errs field.ErrorList
	if e.Series != nil {
		if e.Series.Count < 2 {
			errs = append(errs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
		}
		if e.Series.LastObservedTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("series.lastObservedTime"), ""))
		}
	}
	return errs
}

// ValidateUpdate lets only the series (and metadata) of an event change.
func ValidateUpdate(e, old *eventsv1.Event) field.ErrorList {
	errs := validateCommon(e)
	if !reflect.DeepEqual(e.Series, old.Series) {
		errs = append(errs, validateSeries(e)...)
	}
	immutable := func(n, o any, name string) {
		errs = append(errs, apivalidation.ValidateImmutableField(n, o, field.NewPath(name))...)
	}
	immutable(e.Regarding, old.Regarding, "involvedObject")
	immutable(e.Reason, old.Reason, "reason")
	immutable(e.Note, old.Note, "message")
	immutable(e.DeprecatedSource, old.DeprecatedSource, "source")
	immutable(e.DeprecatedFirstTimestamp, old.DeprecatedFirstTimestamp, "firstTimestamp")
	immutable(e.DeprecatedLastTimestamp, old.DeprecatedLastTimestamp, "lastTimestamp")
	immutable(e.DeprecatedCount, old.DeprecatedCount, "count")
	immutable(e.Type, old.Type, "type")
	// Sub-microsecond differences come from clients that serialize at nanosecond precision.
	if !e.EventTime.Truncate(time.Microsecond).Equal(old.EventTime.Truncate(time.Microsecond)) {
		immutable(e.EventTime, old.EventTime, "eventTime")
	}
	immutable(e.Action, old.Action, "action")
	immutable(e.ReportingController, old.ReportingController, "reportingController")
	immutable(e.ReportingInstance, old.ReportingInstance, "reportingInstance")
	return errs
}
