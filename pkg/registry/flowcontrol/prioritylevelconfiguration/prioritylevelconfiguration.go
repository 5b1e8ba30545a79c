// Package prioritylevelconfiguration serves flowcontrol.apiserver.k8s.io/v1
// PriorityLevelConfigurations: the concurrency shares and queues of API Priority and
// Fairness.
package prioritylevelconfiguration

import (
	"context"
	"fmt"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/util/shufflesharding"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Upstream v1 defaults.
const (
	DefaultNominalConcurrencyShares = 30
	DefaultHandSize                 = 8
	DefaultQueues                   = 64
	DefaultQueueLengthLimit         = 50
)

// Resource is prioritylevelconfigurations.
var Resource = &store.Resource{
	Name: "prioritylevelconfigurations", Singular: "prioritylevelconfiguration",
	Generation: true, Status: true,
	New:      func() runtime.Object { return &flowcontrolv1.PriorityLevelConfiguration{} },
	NewList:  func() runtime.Object { return &flowcontrolv1.PriorityLevelConfigurationList{} },
	Defaults: func(obj runtime.Object) { Default(obj.(*flowcontrolv1.PriorityLevelConfiguration)) },
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*flowcontrolv1.PriorityLevelConfiguration))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		return validateConditions(obj.(*flowcontrolv1.PriorityLevelConfiguration).Status.Conditions)
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "Type", Type: "string", Description: flowcontrolv1.PriorityLevelConfigurationSpec{}.SwaggerDoc()["type"]},
		{Name: "NominalConcurrencyShares", Type: "string", Description: flowcontrolv1.LimitedPriorityLevelConfiguration{}.SwaggerDoc()["nominalConcurrencyShares"]},
		{Name: "Queues", Type: "string", Description: flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["queues"]},
		{Name: "HandSize", Type: "string", Description: flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["handSize"]},
		{Name: "QueueLengthLimit", Type: "string", Description: flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["queueLengthLimit"]},
		store.AgeColumn,
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*flowcontrolv1.PriorityLevelConfiguration)) },
}

func int32Ptr(v int32) *int32 { return &v }

// Default fills a priority level as upstream v1 does.
func Default(pl *flowcontrolv1.PriorityLevelConfiguration) {
	s := &pl.Spec
	if s.Type == flowcontrolv1.PriorityLevelEnablementExempt {
		if s.Exempt == nil {
			s.Exempt = &flowcontrolv1.ExemptPriorityLevelConfiguration{}
		}
		if s.Exempt.NominalConcurrencyShares == nil {
			s.Exempt.NominalConcurrencyShares = int32Ptr(0)
		}
		if s.Exempt.LendablePercent == nil {
			s.Exempt.LendablePercent = int32Ptr(0)
		}
	}
	if l := s.Limited; l != nil {
		if l.NominalConcurrencyShares == nil {
			l.NominalConcurrencyShares = int32Ptr(DefaultNominalConcurrencyShares)
		}
		if l.LendablePercent == nil {
			l.LendablePercent = int32Ptr(0)
		}
		if q := l.LimitResponse.Queuing; q != nil {
			if q.HandSize == 0 {
				q.HandSize = DefaultHandSize
			}
			if q.Queues == 0 {
				q.Queues = DefaultQueues
			}
			if q.QueueLengthLimit == 0 {
				q.QueueLengthLimit = DefaultQueueLengthLimit
			}
		}
	}
}

// Row prints a priority level; exempt levels print "<none>" for the limits.
func Row(pl *flowcontrolv1.PriorityLevelConfiguration) []any {
	var shares, queues, handSize, queueLengthLimit any = "<none>", "<none>", "<none>", "<none>"
	if l := pl.Spec.Limited; l != nil {
		if l.NominalConcurrencyShares != nil {
			shares = *l.NominalConcurrencyShares
		}
		if q := l.LimitResponse.Queuing; q != nil {
			queues, handSize, queueLengthLimit = q.Queues, q.HandSize, q.QueueLengthLimit
		}
	}
	return []any{pl.Name, string(pl.Spec.Type), shares, queues, handSize, queueLengthLimit, store.Age(pl.CreationTimestamp)}
}

var (
	types         = []string{string(flowcontrolv1.PriorityLevelEnablementExempt), string(flowcontrolv1.PriorityLevelEnablementLimited)}
	responseTypes = []string{string(flowcontrolv1.LimitResponseTypeQueue), string(flowcontrolv1.LimitResponseTypeReject)}
)

// Validate checks the type and its matching configuration, with upstream's messages.
func Validate(pl *flowcontrolv1.PriorityLevelConfiguration) field.ErrorList {
	sp := field.NewPath("spec")
	s := &pl.Spec
	var errs field.ErrorList
	switch s.Type {
	case flowcontrolv1.PriorityLevelEnablementExempt:
		if s.Limited != nil {
			errs = append(errs, field.Forbidden(sp.Child("limited"), "must be nil if the type is not Limited"))
		}
		if e := s.Exempt; e != nil {
			errs = append(errs, validateShares(e.NominalConcurrencyShares, e.LendablePercent, sp.Child("exempt"))...)
		}
	case flowcontrolv1.PriorityLevelEnablementLimited:
		if s.Exempt != nil {
			errs = append(errs, field.Forbidden(sp.Child("exempt"), "must be nil if the type is Limited"))
		}
		if s.Limited == nil {
			errs = append(errs, field.Required(sp.Child("limited"), "must not be empty when type is Limited"))
		} else {
			errs = append(errs, validateLimited(s.Limited, sp.Child("limited"))...)
		}
	case "":
		errs = append(errs, field.Required(sp.Child("type"), ""))
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), s.Type, types))
	}
	return errs
}

// validateShares checks the nominal concurrency shares and lendable percent that exempt
// and limited levels both have, at p.
func validateShares(shares, lendable *int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if shares != nil && *shares < 0 {
		errs = append(errs, field.Invalid(p.Child("nominalConcurrencyShares"), *shares, "must be a non-negative integer"))
	}
	if lendable != nil && (*lendable < 0 || *lendable > 100) {
		errs = append(errs, field.Invalid(p.Child("lendablePercent"), *lendable, "must be between 0 and 100, inclusive"))
	}
	return errs
}

func validateLimited(l *flowcontrolv1.LimitedPriorityLevelConfiguration, p *field.Path) field.ErrorList {
	errs := validateShares(l.NominalConcurrencyShares, l.LendablePercent, p)
	if b := l.BorrowingLimitPercent; b != nil && *b < 0 {
		errs = append(errs, field.Invalid(p.Child("borrowingLimitPercent"), *b, "if specified, must be a non-negative integer"))
	}
	rp := p.Child("limitResponse")
	r := l.LimitResponse
	switch r.Type {
	case flowcontrolv1.LimitResponseTypeReject:
		if r.Queuing != nil {
			errs = append(errs, field.Forbidden(rp.Child("queuing"), "must be nil if limited.limitResponse.type is not Limited"))
		}
	case flowcontrolv1.LimitResponseTypeQueue:
		if r.Queuing == nil {
			errs = append(errs, field.Required(rp.Child("queuing"), "must not be empty if limited.limitResponse.type is Limited"))
		} else {
			errs = append(errs, validateQueuing(r.Queuing, rp.Child("queuing"))...)
		}
	case "":
		errs = append(errs, field.Required(rp.Child("type"), ""))
	default:
		errs = append(errs, field.NotSupported(rp.Child("type"), r.Type, responseTypes))
	}
	return errs
}

func validateQueuing(q *flowcontrolv1.QueuingConfiguration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.QueueLengthLimit <= 0 {
		errs = append(errs, field.Invalid(p.Child("queueLengthLimit"), q.QueueLengthLimit, "must be positive"))
	}
	if q.Queues <= 0 {
		errs = append(errs, field.Invalid(p.Child("queues"), q.Queues, "must be positive"))
	} else if q.Queues > 1 {
		if q.HandSize > q.Queues {
			errs = append(errs, field.Invalid(p.Child("handSize"), q.HandSize, fmt.Sprintf("should not be greater than queues (%d)", q.Queues)))
		} else if bits := shufflesharding.RequiredEntropyBits(int(q.Queues), int(q.HandSize)); bits > shufflesharding.MaxHashBits {
			errs = append(errs, field.Invalid(p.Child("handSize"), q.HandSize, fmt.Sprintf("required entropy bits of deckSize %d and handSize %d should not be greater than %d", q.Queues, q.HandSize, shufflesharding.MaxHashBits)))
		}
	}
	if q.HandSize <= 0 {
		errs = append(errs, field.Invalid(p.Child("handSize"), q.HandSize, "must be positive"))
	}
	return errs
}

func validateConditions(conds []flowcontrolv1.PriorityLevelConfigurationCondition) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("status", "conditions")
	seen := map[flowcontrolv1.PriorityLevelConfigurationConditionType]bool{}
	for i, c := range conds {
		if c.Type == "" {
			errs = append(errs, field.Required(p.Index(i).Child("type"), "must not be empty"))
		}
		if seen[c.Type] {
			errs = append(errs, field.Duplicate(p.Index(i).Child("type"), c.Type))
		}
		seen[c.Type] = true
	}
	return errs
}
