package subjectaccessreview

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// podReaders allows jane to get pods and anyone in ops to get /healthz.
type podReaders struct{}

func (podReaders) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.IsResourceRequest() && a.GetUser().GetName() == "jane" && a.GetVerb() == "get" && a.GetResource() == "pods" {
		return authorizer.DecisionAllow, "jane reads pods", nil
	}
	if !a.IsResourceRequest() && a.GetPath() == "/healthz" && len(a.GetUser().GetGroups()) > 0 && a.GetUser().GetGroups()[0] == "ops" {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func (p podReaders) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(p.Authorize(ctx, a))
}

func (podReaders) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

func TestSubjectAccessReview(t *testing.T) {
	r := New(podReaders{})
	ra := &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "dev"}
	for _, tc := range []struct {
		name    string
		spec    authorizationv1.SubjectAccessReviewSpec
		meta    metav1.ObjectMeta
		allowed bool
		invalid bool
	}{
		{"allowed", authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: ra}, metav1.ObjectMeta{}, true, false},
		{"other user", authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: ra}, metav1.ObjectMeta{}, false, false},
		{"group non-resource", authorizationv1.SubjectAccessReviewSpec{Groups: []string{"ops"}, NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/healthz", Verb: "get"}}, metav1.ObjectMeta{}, true, false},
		{"no subject", authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: ra}, metav1.ObjectMeta{}, false, true},
		{"no attributes", authorizationv1.SubjectAccessReviewSpec{User: "jane"}, metav1.ObjectMeta{}, false, true},
		{"both attributes", authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: ra, NonResourceAttributes: &authorizationv1.NonResourceAttributes{}}, metav1.ObjectMeta{}, false, true},
		{"metadata", authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: ra}, metav1.ObjectMeta{Name: "x"}, false, true},
	} {
		out, err := r.Create(context.Background(), &authorizationv1.SubjectAccessReview{ObjectMeta: tc.meta, Spec: tc.spec}, nil, nil)
		if tc.invalid {
			if !apierrors.IsInvalid(err) {
				t.Errorf("%s: want invalid, got %v", tc.name, err)
			}
			continue
		}
		if err != nil || out.(*authorizationv1.SubjectAccessReview).Status.Allowed != tc.allowed {
			t.Errorf("%s: %v %v", tc.name, out, err)
		}
	}
}

func TestManagedFieldsAreNotMetadata(t *testing.T) {
	m := metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl-create"}}}
	if errs := ValidateEmptyMeta(m); len(errs) > 0 {
		t.Error(errs)
	}
	m.Labels = map[string]string{"a": "b"}
	if errs := ValidateEmptyMeta(m); len(errs) != 1 {
		t.Error(errs)
	}
}
