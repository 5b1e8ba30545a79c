package admissionutil

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/util/webhook"
)

var (
	failurePolicies    = []string{string(admissionregistrationv1.Ignore), string(admissionregistrationv1.Fail)}
	matchPolicies      = []string{string(admissionregistrationv1.Exact), string(admissionregistrationv1.Equivalent)}
	scopes             = []string{string(admissionregistrationv1.ClusterScope), string(admissionregistrationv1.NamespacedScope), string(admissionregistrationv1.AllScopes)}
	operations         = []string{"*", "CREATE", "UPDATE", "DELETE", "CONNECT"}
	sideEffectClasses  = []string{string(admissionregistrationv1.SideEffectClassNone), string(admissionregistrationv1.SideEffectClassNoneOnDryRun)}
	reviewVersions     = []string{"v1", "v1beta1"}
	reinvocationValues = []string{string(admissionregistrationv1.NeverReinvocationPolicy), string(admissionregistrationv1.IfNeededReinvocationPolicy)}
)

// ValidateFailurePolicy checks a failure policy; nil is an error (defaults fill it).
func ValidateFailurePolicy(p *admissionregistrationv1.FailurePolicyType, fp *field.Path) field.ErrorList {
	if p == nil {
		return field.ErrorList{field.Required(fp, "")}
	}
	if !sets.New(failurePolicies...).Has(string(*p)) {
		return field.ErrorList{field.NotSupported(fp, *p, failurePolicies)}
	}
	return nil
}

// ValidateMatchPolicy checks a match policy.
func ValidateMatchPolicy(p *admissionregistrationv1.MatchPolicyType, fp *field.Path) field.ErrorList {
	if p != nil && !sets.New(matchPolicies...).Has(string(*p)) {
		return field.ErrorList{field.NotSupported(fp, *p, matchPolicies)}
	}
	return nil
}

// ValidateReinvocationPolicy checks a reinvocation policy.
func ValidateReinvocationPolicy(p admissionregistrationv1.ReinvocationPolicyType, fp *field.Path) field.ErrorList {
	if p == "" {
		return field.ErrorList{field.Required(fp, "")}
	}
	if !sets.New(reinvocationValues...).Has(string(p)) {
		return field.ErrorList{field.NotSupported(fp, p, reinvocationValues)}
	}
	return nil
}

// ValidateSelector checks an optional label selector.
func ValidateSelector(sel *metav1.LabelSelector, fp *field.Path) field.ErrorList {
	if sel == nil {
		return nil
	}
	return metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, fp)
}

func validateList(values []string, what string, fp *field.Path) field.ErrorList {
	if len(values) == 0 {
		return field.ErrorList{field.Required(fp, "")}
	}
	var errs field.ErrorList
	if len(values) > 1 && sets.New(values...).Has("*") {
		errs = append(errs, field.Invalid(fp, values, fmt.Sprintf("if '*' is present, must not specify other %s", what)))
	}
	for i, v := range values {
		if v == "" && what == "API versions" {
			errs = append(errs, field.Required(fp.Index(i), ""))
		}
	}
	return errs
}

// ValidateRule checks the groups, versions, resources and scope of a rule.
func ValidateRule(r *admissionregistrationv1.Rule, allowSubresources bool, fp *field.Path) field.ErrorList {
	errs := validateList(r.APIGroups, "API groups", fp.Child("apiGroups"))
	errs = append(errs, validateList(r.APIVersions, "API versions", fp.Child("apiVersions"))...)
	rp := fp.Child("resources")
	if len(r.Resources) == 0 {
		errs = append(errs, field.Required(rp, ""))
	}
	seen := sets.New[string]()
	for i, res := range r.Resources {
		if res == "" {
			errs = append(errs, field.Required(rp.Index(i), ""))
			continue
		}
		if seen.Has(res) {
			errs = append(errs, field.Duplicate(rp.Index(i), res))
		}
		seen.Insert(res)
		parts := strings.SplitN(res, "/", 2)
		if len(parts) == 2 && !allowSubresources {
			errs = append(errs, field.Invalid(rp.Index(i), res, "subresources are not allowed"))
		}
		if parts[0] == "*" && len(r.Resources) > 1 && len(parts) == 1 {
			errs = append(errs, field.Invalid(rp, r.Resources, "if '*' is present, must not specify other resources"))
		}
	}
	if r.Scope != nil && !sets.New(scopes...).Has(string(*r.Scope)) {
		errs = append(errs, field.NotSupported(fp.Child("scope"), *r.Scope, scopes))
	}
	return errs
}

// ValidateRuleWithOperations checks the operations and then the rule.
func ValidateRuleWithOperations(r *admissionregistrationv1.RuleWithOperations, fp *field.Path) field.ErrorList {
	op := fp.Child("operations")
	var errs field.ErrorList
	if len(r.Operations) == 0 {
		errs = append(errs, field.Required(op, ""))
	}
	if len(r.Operations) > 1 {
		for _, o := range r.Operations {
			if o == admissionregistrationv1.OperationAll {
				errs = append(errs, field.Invalid(op, r.Operations, "if '*' is present, must not specify other operations"))
				break
			}
		}
	}
	for i, o := range r.Operations {
		if !sets.New(operations...).Has(string(o)) {
			errs = append(errs, field.NotSupported(op.Index(i), o, operations))
		}
	}
	return append(errs, ValidateRule(&r.Rule, true, fp)...)
}

// ValidateMatchResources checks policy match constraints (requireRules) or binding match resources.
func ValidateMatchResources(m *admissionregistrationv1.MatchResources, requireRules bool, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m == nil {
		if requireRules {
			errs = append(errs, field.Required(fp, ""))
		}
		return errs
	}
	errs = append(errs, ValidateSelector(m.NamespaceSelector, fp.Child("namespaceSelector"))...)
	errs = append(errs, ValidateSelector(m.ObjectSelector, fp.Child("objectSelector"))...)
	errs = append(errs, ValidateMatchPolicy(m.MatchPolicy, fp.Child("matchPolicy"))...)
	if requireRules && len(m.ResourceRules) == 0 {
		errs = append(errs, field.Required(fp.Child("resourceRules"), ""))
	}
	for name, rules := range map[string][]admissionregistrationv1.NamedRuleWithOperations{"resourceRules": m.ResourceRules, "excludeResourceRules": m.ExcludeResourceRules} {
		for i := range rules {
			rp := fp.Child(name).Index(i)
			errs = append(errs, ValidateRuleWithOperations(&rules[i].RuleWithOperations, rp)...)
			for j, n := range rules[i].ResourceNames {
				for _, msg := range validation.IsDNS1123Subdomain(n) {
					errs = append(errs, field.Invalid(rp.Child("resourceNames").Index(j), n, msg))
				}
			}
		}
	}
	return errs
}

// ValidateClientConfig checks that exactly one of url and service is set, and that one.
func ValidateClientConfig(c *admissionregistrationv1.WebhookClientConfig, fp *field.Path) field.ErrorList {
	switch {
	case (c.URL != nil) == (c.Service != nil):
		return field.ErrorList{field.Required(fp, "exactly one of url or service is required")}
	case c.URL != nil:
		return webhook.ValidateWebhookURL(fp.Child("url"), *c.URL, true)
	}
	port := int32(443)
	if c.Service.Port != nil {
		port = *c.Service.Port
	}
	return webhook.ValidateWebhookService(fp.Child("service"), c.Service.Namespace, c.Service.Name, c.Service.Path, port)
}

func validateReviewVersions(versions []string, fp *field.Path) field.ErrorList {
	if len(versions) == 0 {
		return field.ErrorList{field.Required(fp, fmt.Sprintf("must specify one of %v", strings.Join(reviewVersions, ", ")))}
	}
	var errs field.ErrorList
	seen, supported := sets.New[string](), false
	for i, v := range versions {
		if seen.Has(v) {
			errs = append(errs, field.Invalid(fp.Index(i), v, "duplicate version"))
		}
		seen.Insert(v)
		if sets.New(reviewVersions...).Has(v) {
			supported = true
		}
		for _, msg := range validation.IsDNS1035Label(v) {
			errs = append(errs, field.Invalid(fp.Index(i), v, msg))
		}
	}
	if !supported {
		errs = append(errs, field.Invalid(fp, versions, fmt.Sprintf("must include at least one of %v", strings.Join(reviewVersions, ", "))))
	}
	return errs
}

// maxMatchConditions bounds the match conditions of a webhook or policy, as upstream.
const maxMatchConditions = 64

// ValidateMatchConditions checks names (qualified, unique) and expressions; with a CEL
// checker the expressions are compiled too.
func ValidateMatchConditions(conds []admissionregistrationv1.MatchCondition, cel *Expressions, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(conds) > maxMatchConditions {
		errs = append(errs, field.TooMany(fp, len(conds), maxMatchConditions))
	}
	seen := sets.New[string]()
	for i, c := range conds {
		cp := fp.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		} else {
			for _, msg := range validation.IsQualifiedName(c.Name) {
				errs = append(errs, field.Invalid(cp.Child("name"), c.Name, msg))
			}
			if seen.Has(c.Name) {
				errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
			}
			seen.Insert(c.Name)
		}
		if strings.TrimSpace(c.Expression) == "" {
			errs = append(errs, field.Required(cp.Child("expression"), ""))
		} else {
			errs = append(errs, cel.Check(c.Expression, BoolResult, cp.Child("expression"))...)
		}
	}
	return errs
}

// ValidatePolicy checks what validating and mutating admission policies share, at
// spec sp: paramKind, matchConstraints, failurePolicy, variables and matchConditions,
// compiling their CEL. It returns the CEL checker for the rest of the spec.
func ValidatePolicy(paramKind *admissionregistrationv1.ParamKind, match *admissionregistrationv1.MatchResources,
	failure *admissionregistrationv1.FailurePolicyType, vars []admissionregistrationv1.Variable,
	conds []admissionregistrationv1.MatchCondition, mutating bool, sp *field.Path) (*Expressions, field.ErrorList) {
	cel := NewExpressions(paramKind != nil, mutating)
	errs := ValidateParamKind(paramKind, sp.Child("paramKind"))
	errs = append(errs, ValidateMatchResources(match, true, sp.Child("matchConstraints"))...)
	errs = append(errs, ValidateFailurePolicy(failure, sp.Child("failurePolicy"))...)
	errs = append(errs, ValidateVariables(vars, cel, sp.Child("variables"))...)
	errs = append(errs, ValidateMatchConditions(conds, cel, sp.Child("matchConditions"))...)
	return cel, errs
}

// ValidateParamKind checks a policy's paramKind.
func ValidateParamKind(pk *admissionregistrationv1.ParamKind, fp *field.Path) field.ErrorList {
	if pk == nil {
		return nil
	}
	var errs field.ErrorList
	if pk.APIVersion == "" {
		errs = append(errs, field.Required(fp.Child("apiVersion"), ""))
	} else if gv, err := schema.ParseGroupVersion(pk.APIVersion); err != nil {
		errs = append(errs, field.Invalid(fp.Child("apiVersion"), pk.APIVersion, err.Error()))
	} else if gv.Version == "" {
		errs = append(errs, field.Invalid(fp.Child("apiVersion"), pk.APIVersion, "version must be specified"))
	}
	if pk.Kind == "" {
		errs = append(errs, field.Required(fp.Child("kind"), ""))
	} else if msgs := validation.IsDNS1035Label(strings.ToLower(pk.Kind)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(fp.Child("kind"), pk.Kind, "may have mixed case, but should otherwise match: "+strings.Join(msgs, ",")))
	}
	return errs
}

var notFoundActions = []string{string(admissionregistrationv1.AllowAction), string(admissionregistrationv1.DenyAction)}

// ValidateParamRef checks a binding's paramRef: name xor selector, and the not-found action.
func ValidateParamRef(pr *admissionregistrationv1.ParamRef, fp *field.Path) field.ErrorList {
	if pr == nil {
		return nil
	}
	var errs field.ErrorList
	switch {
	case pr.Name != "" && pr.Selector != nil:
		errs = append(errs, field.Forbidden(fp.Child("name"), `name and selector are mutually exclusive`))
	case pr.Name == "" && pr.Selector == nil:
		errs = append(errs, field.Required(fp, `one of "name" or "selector" must be set`))
	case pr.Name != "":
		for _, msg := range validation.IsDNS1123Subdomain(pr.Name) {
			errs = append(errs, field.Invalid(fp.Child("name"), pr.Name, msg))
		}
	default:
		errs = append(errs, ValidateSelector(pr.Selector, fp.Child("selector"))...)
	}
	if pr.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(pr.Namespace) {
			errs = append(errs, field.Invalid(fp.Child("namespace"), pr.Namespace, msg))
		}
	}
	ap := fp.Child("parameterNotFoundAction")
	if pr.ParameterNotFoundAction == nil {
		errs = append(errs, field.Required(ap, ""))
	} else if !sets.New(notFoundActions...).Has(string(*pr.ParameterNotFoundAction)) {
		errs = append(errs, field.NotSupported(ap, *pr.ParameterNotFoundAction, notFoundActions))
	}
	return errs
}

// ValidatePolicyName checks a binding's policyName.
func ValidatePolicyName(name string, fp *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fp, "")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(fp, name, msg))
	}
	return errs
}

// ValidateVariables checks names (CEL identifiers, unique) and compiles the expressions in
// order, so that later ones may use earlier ones.
func ValidateVariables(vars []admissionregistrationv1.Variable, cel *Expressions, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, v := range vars {
		vp := fp.Index(i)
		if v.Name == "" {
			errs = append(errs, field.Required(vp.Child("name"), ""))
		} else if !isCELIdentifier(v.Name) {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, "name is not a valid CEL identifier"))
		} else if seen.Has(v.Name) {
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		}
		seen.Insert(v.Name)
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(vp.Child("expression"), ""))
			continue
		}
		errs = append(errs, cel.Variable(v.Name, v.Expression, vp.Child("expression"))...)
	}
	return errs
}

func isCELIdentifier(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return s != ""
}
