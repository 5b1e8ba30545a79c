package flowcontrol

import (
	"context"
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
	"k8s.io/client-go/kubernetes/fake"
)

func TestEnsureBootstrap(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset()
	if err := EnsureBootstrap(ctx, c); err != nil {
		t.Fatal(err)
	}
	pls, _ := c.FlowcontrolV1().PriorityLevelConfigurations().List(ctx, metav1.ListOptions{})
	fss, _ := c.FlowcontrolV1().FlowSchemas().List(ctx, metav1.ListOptions{})
	wantPL := len(bootstrap.MandatoryPriorityLevelConfigurations) + len(bootstrap.SuggestedPriorityLevelConfigurations)
	wantFS := len(bootstrap.MandatoryFlowSchemas) + len(bootstrap.SuggestedFlowSchemas)
	if len(pls.Items) != wantPL || len(fss.Items) != wantFS {
		t.Fatalf("created %d priority levels and %d flow schemas, want %d and %d", len(pls.Items), len(fss.Items), wantPL, wantFS)
	}

	pl := c.FlowcontrolV1().PriorityLevelConfigurations()
	set := func(name string, annotation string, shares int32) {
		o, _ := pl.Get(ctx, name, metav1.GetOptions{})
		if annotation != "" {
			o.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] = annotation
		}
		if o.Spec.Limited != nil {
			o.Spec.Limited.NominalConcurrencyShares = &shares
		} else {
			o.Spec.Exempt.NominalConcurrencyShares = &shares
		}
		if _, err := pl.Update(ctx, o, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	set("workload-low", "false", 7) // suggested, opted out: kept
	set("workload-high", "", 7)     // suggested, still auto-updated: restored
	set("catch-all", "false", 7)    // mandatory: restored even when opted out
	set("exempt", "", 7)            // mandatory exempt: its shares are the operator's
	if err := EnsureBootstrap(ctx, c); err != nil {
		t.Fatal(err)
	}
	shares := func(name string) int32 {
		o, _ := pl.Get(ctx, name, metav1.GetOptions{})
		if o.Spec.Limited != nil {
			return *o.Spec.Limited.NominalConcurrencyShares
		}
		return *o.Spec.Exempt.NominalConcurrencyShares
	}
	for name, want := range map[string]int32{"workload-low": 7, "workload-high": 40, "catch-all": 5, "exempt": 7} {
		if got := shares(name); got != want {
			t.Errorf("%s: nominalConcurrencyShares %d, want %d", name, got, want)
		}
	}
}

func TestEnsureFlowSchemas(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset()
	if err := EnsureBootstrap(ctx, c); err != nil {
		t.Fatal(err)
	}
	fs := c.FlowcontrolV1().FlowSchemas()
	mandatory, suggested := bootstrap.MandatoryFlowSchemas[0].Name, bootstrap.SuggestedFlowSchemas[0].Name
	set := func(name, annotation string) {
		o, _ := fs.Get(ctx, name, metav1.GetOptions{})
		o.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] = annotation
		o.Spec.MatchingPrecedence = 9999
		if _, err := fs.Update(ctx, o, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	set(mandatory, "false")
	set(suggested, "false")
	if err := EnsureBootstrap(ctx, c); err != nil {
		t.Fatal(err)
	}
	if o, _ := fs.Get(ctx, mandatory, metav1.GetOptions{}); o.Spec.MatchingPrecedence == 9999 || o.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] != "true" {
		t.Errorf("mandatory %s not restored: %d %v", mandatory, o.Spec.MatchingPrecedence, o.Annotations)
	}
	if o, _ := fs.Get(ctx, suggested, metav1.GetOptions{}); o.Spec.MatchingPrecedence != 9999 {
		t.Errorf("suggested %s opted out but overwritten: %d", suggested, o.Spec.MatchingPrecedence)
	}
}
