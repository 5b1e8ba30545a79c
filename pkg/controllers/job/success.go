package job

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
)

// matchSuccessPolicy reports the first success policy rule the succeeded indexes
// satisfy, with the message of the SuccessCriteriaMet condition.
func matchSuccessPolicy(policy *batchv1.SuccessPolicy, completions int32, succeeded orderedIntervals) (string, bool) {
	if policy == nil || len(succeeded) == 0 {
		return "", false
	}
	for i, rule := range policy.Rules {
		if rule.SucceededIndexes != nil {
			required := parseIndexes(*rule.SucceededIndexes, int(completions))
			if len(required) == 0 {
				continue
			}
			if matchSucceededIndexesRule(required, succeeded, rule.SucceededCount) {
				return fmt.Sprintf("Matched rules at index %d", i), true
			}
		} else if rule.SucceededCount != nil && succeeded.total() >= int(*rule.SucceededCount) {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}

// matchSucceededIndexesRule: all the rule's indexes succeeded, or at least
// succeededCount of them.
func matchSucceededIndexesRule(rule, succeeded orderedIntervals, count *int32) bool {
	contains := 0
	for r, s := 0, 0; r < len(rule) && s < len(succeeded); {
		if overlap := min(rule[r].Last, succeeded[s].Last) - max(rule[r].First, succeeded[s].First) + 1; overlap > 0 {
			contains += overlap
		}
		switch {
		case succeeded[s].Last < rule[r].Last:
			s++
		case succeeded[s].Last > rule[r].Last:
			r++
		default:
			s++
			r++
		}
	}
	return contains == rule.total() || (count != nil && contains >= int(*count))
}
