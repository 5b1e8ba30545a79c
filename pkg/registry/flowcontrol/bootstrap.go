package flowcontrol

import (
	"context"
	"fmt"
	"strconv"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
	"k8s.io/client-go/kubernetes"
	flowcontrolclient "k8s.io/client-go/kubernetes/typed/flowcontrol/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/flowcontrol/flowschema"
	"github.com/skiff-k8s/skiff/pkg/registry/flowcontrol/prioritylevelconfiguration"
)

// EnsureBootstrap creates the mandatory and suggested FlowSchemas and
// PriorityLevelConfigurations that are missing, and brings existing ones back in line
// as upstream's apiserver does at start: mandatory objects always (keeping an exempt
// level's concurrency shares and lendable percent, which operators may tune), suggested
// ones only while their apf.kubernetes.io/autoupdate-spec annotation allows it.
func EnsureBootstrap(ctx context.Context, client kubernetes.Interface) error {
	fc := client.FlowcontrolV1()
	for _, want := range bootstrap.MandatoryPriorityLevelConfigurations {
		if err := ensurePriorityLevel(ctx, fc, want, true); err != nil {
			return err
		}
	}
	for _, want := range bootstrap.SuggestedPriorityLevelConfigurations {
		if err := ensurePriorityLevel(ctx, fc, want, false); err != nil {
			return err
		}
	}
	for _, want := range bootstrap.MandatoryFlowSchemas {
		if err := ensureFlowSchema(ctx, fc, want, true); err != nil {
			return err
		}
	}
	for _, want := range bootstrap.SuggestedFlowSchemas {
		if err := ensureFlowSchema(ctx, fc, want, false); err != nil {
			return err
		}
	}
	return nil
}

// shouldUpdate reports whether a suggested object may be overwritten: its annotation says
// so, or, without a readable annotation, nobody has changed it since it was created.
func shouldUpdate(m metav1.Object) bool {
	if v, err := strconv.ParseBool(m.GetAnnotations()[flowcontrolv1.AutoUpdateAnnotationKey]); err == nil {
		return v
	}
	return m.GetGeneration() == 1
}

func withAutoUpdate(m metav1.Object) {
	a := m.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[flowcontrolv1.AutoUpdateAnnotationKey] = "true"
	m.SetAnnotations(a)
}

func ensurePriorityLevel(ctx context.Context, fc flowcontrolclient.FlowcontrolV1Interface, bootstrapPL *flowcontrolv1.PriorityLevelConfiguration, mandatory bool) error {
	want := bootstrapPL.DeepCopy()
	prioritylevelconfiguration.Default(want)
	client := fc.PriorityLevelConfigurations()
	have, err := client.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("create priority level %s: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get priority level %s: %w", want.Name, err)
	}
	if !mandatory && !shouldUpdate(have) {
		return nil
	}
	spec := want.Spec
	if mandatory && spec.Exempt != nil && have.Spec.Exempt != nil {
		// Operators may tune the exempt level's shares; upstream keeps them.
		spec.Exempt.NominalConcurrencyShares = have.Spec.Exempt.NominalConcurrencyShares
		spec.Exempt.LendablePercent = have.Spec.Exempt.LendablePercent
	}
	if equality.Semantic.DeepEqual(have.Spec, spec) && have.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] == "true" {
		return nil
	}
	updated := have.DeepCopy()
	updated.Spec = spec
	withAutoUpdate(updated)
	if _, err := client.Update(ctx, updated, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("update priority level %s: %w", want.Name, err)
	}
	return nil
}

func ensureFlowSchema(ctx context.Context, fc flowcontrolclient.FlowcontrolV1Interface, bootstrapFS *flowcontrolv1.FlowSchema, mandatory bool) error {
	want := bootstrapFS.DeepCopy()
	if want.Spec.MatchingPrecedence == 0 {
		want.Spec.MatchingPrecedence = flowschema.DefaultMatchingPrecedence
	}
	client := fc.FlowSchemas()
	have, err := client.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("create flow schema %s: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get flow schema %s: %w", want.Name, err)
	}
	if !mandatory && !shouldUpdate(have) {
		return nil
	}
	if equality.Semantic.DeepEqual(have.Spec, want.Spec) && have.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] == "true" {
		return nil
	}
	updated := have.DeepCopy()
	updated.Spec = want.Spec
	withAutoUpdate(updated)
	if _, err := client.Update(ctx, updated, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("update flow schema %s: %w", want.Name, err)
	}
	return nil
}

// fieldManager is the manager upstream's ensurer writes as.
const fieldManager = "api-priority-and-fairness-config-producer-v1"
