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
	return ensure(ctx, fc.PriorityLevelConfigurations(), want, "priority level", mandatory,
		func(have *flowcontrolv1.PriorityLevelConfiguration) (*flowcontrolv1.PriorityLevelConfiguration, bool) {
			spec := want.Spec
			if mandatory && spec.Exempt != nil && have.Spec.Exempt != nil {
				// Operators may tune the exempt level's shares; upstream keeps them.
				spec.Exempt.NominalConcurrencyShares = have.Spec.Exempt.NominalConcurrencyShares
				spec.Exempt.LendablePercent = have.Spec.Exempt.LendablePercent
			}
			updated := have.DeepCopy()
			updated.Spec = spec
			return updated, !equality.Semantic.DeepEqual(have.Spec, spec)
		})
}

func ensureFlowSchema(ctx context.Context, fc flowcontrolclient.FlowcontrolV1Interface, bootstrapFS *flowcontrolv1.FlowSchema, mandatory bool) error {
	want := bootstrapFS.DeepCopy()
	if want.Spec.MatchingPrecedence == 0 {
		want.Spec.MatchingPrecedence = flowschema.DefaultMatchingPrecedence
	}
	return ensure(ctx, fc.FlowSchemas(), want, "flow schema", mandatory,
		func(have *flowcontrolv1.FlowSchema) (*flowcontrolv1.FlowSchema, bool) {
			updated := have.DeepCopy()
			updated.Spec = want.Spec
			return updated, !equality.Semantic.DeepEqual(have.Spec, want.Spec)
		})
}

// bootstrapClient is the typed client of FlowSchemas or PriorityLevelConfigurations.
type bootstrapClient[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// ensure creates want (a what) when it is missing. Otherwise, when mandatory or the
// stored object may be overwritten, sync returns have with the wanted spec and whether
// the spec changed; that is written, marked auto-updated, unless nothing would change.
// Losing a race to create or update is fine: another server wrote it.
func ensure[T metav1.Object](ctx context.Context, client bootstrapClient[T], want T, what string, mandatory bool, sync func(have T) (T, bool)) error {
	have, err := client.Get(ctx, want.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("create %s %s: %w", what, want.GetName(), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", what, want.GetName(), err)
	}
	if !mandatory && !shouldUpdate(have) {
		return nil
	}
	updated, changed := sync(have)
	if !changed && have.GetAnnotations()[flowcontrolv1.AutoUpdateAnnotationKey] == "true" {
		return nil
	}
	withAutoUpdate(updated)
	if _, err := client.Update(ctx, updated, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("update %s %s: %w", what, want.GetName(), err)
	}
	return nil
}

// fieldManager is the manager upstream's ensurer writes as.
const fieldManager = "api-priority-and-fairness-config-producer-v1"
