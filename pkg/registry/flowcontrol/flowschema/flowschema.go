// Package flowschema serves flowcontrol.apiserver.k8s.io/v1 FlowSchemas: which requests
// go to which API Priority and Fairness priority level.
package flowschema

import (
	"context"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// DefaultMatchingPrecedence is upstream's v1 default.
const DefaultMatchingPrecedence = 1000

const maxMatchingPrecedence = 10000

// Resource is flowschemas.
var Resource = &store.Resource{
	Name: "flowschemas", Singular: "flowschema",
	Generation: true, Status: true,
	New:     func() runtime.Object { return &flowcontrolv1.FlowSchema{} },
	NewList: func() runtime.Object { return &flowcontrolv1.FlowSchemaList{} },
	Defaults: func(obj runtime.Object) {
		if fs := obj.(*flowcontrolv1.FlowSchema); fs.Spec.MatchingPrecedence == 0 {
			fs.Spec.MatchingPrecedence = DefaultMatchingPrecedence
		}
	},
	Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
		return Validate(obj.(*flowcontrolv1.FlowSchema))
	},
	ValidateStatus: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
		var errs field.ErrorList
		p := field.NewPath("status", "conditions")
		seen := sets.New[flowcontrolv1.FlowSchemaConditionType]()
		for i, c := range obj.(*flowcontrolv1.FlowSchema).Status.Conditions {
			if c.Type == "" {
				errs = append(errs, field.Required(p.Index(i).Child("type"), "must not be empty"))
			} else if seen.Has(c.Type) {
				errs = append(errs, field.Duplicate(p.Index(i).Child("type"), c.Type))
			}
			seen.Insert(c.Type)
		}
		return errs
	},
	Columns: []metav1.TableColumnDefinition{
		store.NameColumn,
		{Name: "PriorityLevel", Type: "string", Description: flowcontrolv1.PriorityLevelConfigurationReference{}.SwaggerDoc()["name"]},
		{Name: "MatchingPrecedence", Type: "string", Description: flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["matchingPrecedence"]},
		{Name: "DistinguisherMethod", Type: "string", Description: flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["distinguisherMethod"]},
		store.AgeColumn,
		{Name: "MissingPL", Type: "string", Description: "references a broken or non-existent PriorityLevelConfiguration"},
	},
	Row: func(obj runtime.Object) []any { return Row(obj.(*flowcontrolv1.FlowSchema)) },
}

// Row prints a FlowSchema; MissingPL is its Dangling condition ("?" before the APF
// controller has looked).
func Row(fs *flowcontrolv1.FlowSchema) []any {
	method := "<none>"
	if fs.Spec.DistinguisherMethod != nil {
		method = string(fs.Spec.DistinguisherMethod.Type)
	}
	missing := "?"
	for _, c := range fs.Status.Conditions {
		if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
			missing = string(c.Status)
			break
		}
	}
	return []any{fs.Name, fs.Spec.PriorityLevelConfiguration.Name, int64(fs.Spec.MatchingPrecedence), method, store.Age(fs.CreationTimestamp), missing}
}

var (
	distinguisherTypes = []string{string(flowcontrolv1.FlowDistinguisherMethodByUserType), string(flowcontrolv1.FlowDistinguisherMethodByNamespaceType)}
	subjectKinds       = []string{string(flowcontrolv1.SubjectKindUser), string(flowcontrolv1.SubjectKindGroup), string(flowcontrolv1.SubjectKindServiceAccount)}
)

// Validate checks precedence, the priority level reference and the rules.
func Validate(fs *flowcontrolv1.FlowSchema) field.ErrorList {
	sp := field.NewPath("spec")
	s := &fs.Spec
	var errs field.ErrorList
	if s.MatchingPrecedence <= 0 {
		errs = append(errs, field.Invalid(sp.Child("matchingPrecedence"), s.MatchingPrecedence, "must be a positive value"))
	}
	if s.MatchingPrecedence > maxMatchingPrecedence {
		errs = append(errs, field.Invalid(sp.Child("matchingPrecedence"), s.MatchingPrecedence, "must not be greater than 10000"))
	}
	if d := s.DistinguisherMethod; d != nil && !sets.New(distinguisherTypes...).Has(string(d.Type)) {
		errs = append(errs, field.NotSupported(sp.Child("distinguisherMethod", "type"), d.Type, distinguisherTypes))
	}
	if n := s.PriorityLevelConfiguration.Name; n == "" {
		errs = append(errs, field.Required(sp.Child("priorityLevelConfiguration", "name"), "must reference a priority level"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			errs = append(errs, field.Invalid(sp.Child("priorityLevelConfiguration", "name"), n, msg))
		}
	}
	for i := range s.Rules {
		errs = append(errs, validateRule(&s.Rules[i], sp.Child("rules").Index(i))...)
	}
	return errs
}

func validateRule(r *flowcontrolv1.PolicyRulesWithSubjects, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Subjects) == 0 {
		errs = append(errs, field.Required(p.Child("subjects"), "subjects must contain at least one value"))
	}
	for i := range r.Subjects {
		errs = append(errs, validateSubject(&r.Subjects[i], p.Child("subjects").Index(i))...)
	}
	if len(r.ResourceRules) == 0 && len(r.NonResourceRules) == 0 {
		errs = append(errs, field.Required(p, "at least one of resourceRules and nonResourceRules has to be non-empty"))
	}
	for i, rr := range r.ResourceRules {
		rp := p.Child("resourceRules").Index(i)
		errs = append(errs, required(rr.Verbs, rp.Child("verbs"), "verbs must contain at least one value")...)
		errs = append(errs, required(rr.APIGroups, rp.Child("apiGroups"), "resource rules must supply at least one api group")...)
		errs = append(errs, required(rr.Resources, rp.Child("resources"), "resource rules must supply at least one resource")...)
		if len(rr.Namespaces) == 0 && !rr.ClusterScope {
			errs = append(errs, field.Required(rp.Child("namespaces"), "resource rules that are not cluster scoped must supply at least one namespace"))
		}
	}
	for i, nr := range r.NonResourceRules {
		np := p.Child("nonResourceRules").Index(i)
		errs = append(errs, required(nr.Verbs, np.Child("verbs"), "verbs must contain at least one value")...)
		errs = append(errs, required(nr.NonResourceURLs, np.Child("nonResourceURLs"), "nonResourceURLs must contain at least one value")...)
	}
	return errs
}

func required(values []string, p *field.Path, msg string) field.ErrorList {
	if len(values) == 0 {
		return field.ErrorList{field.Required(p, msg)}
	}
	return nil
}

func validateSubject(s *flowcontrolv1.Subject, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Kind {
	case flowcontrolv1.SubjectKindUser:
		if s.User == nil {
			errs = append(errs, field.Required(p.Child("user"), "user is required for User subject kind"))
		} else if s.User.Name == "" {
			errs = append(errs, field.Required(p.Child("user", "name"), "username is required"))
		}
	case flowcontrolv1.SubjectKindGroup:
		if s.Group == nil {
			errs = append(errs, field.Required(p.Child("group"), "group is required for Group subject kind"))
		} else if s.Group.Name == "" {
			errs = append(errs, field.Required(p.Child("group", "name"), "group name is required"))
		}
	case flowcontrolv1.SubjectKindServiceAccount:
		if s.ServiceAccount == nil {
			errs = append(errs, field.Required(p.Child("serviceAccount"), "serviceAccount is required for ServiceAccount subject kind"))
		} else {
			if s.ServiceAccount.Name == "" {
				errs = append(errs, field.Required(p.Child("serviceAccount", "name"), "name is required"))
			}
			if s.ServiceAccount.Namespace == "" {
				errs = append(errs, field.Required(p.Child("serviceAccount", "namespace"), "namespace is required"))
			}
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, subjectKinds))
	}
	return errs
}
