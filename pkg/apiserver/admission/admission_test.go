package admission

import (
	"slices"
	"testing"

	genericoptions "k8s.io/apiserver/pkg/server/options"
)

func TestConfigureOrder(t *testing.T) {
	opts := genericoptions.NewAdmissionOptions()
	Configure(opts)
	want := []string{"NamespaceLifecycle", "ServiceAccount", "DefaultTolerationSeconds",
		"MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy", "ValidatingAdmissionWebhook", "ResourceQuota"}
	got := slices.DeleteFunc(slices.Clone(opts.RecommendedPluginOrder), func(n string) bool { return !slices.Contains(want, n) })
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", opts.RecommendedPluginOrder, want)
	}
	for _, n := range opts.RecommendedPluginOrder {
		if !slices.Contains(opts.Plugins.Registered(), n) {
			t.Errorf("%s is enabled but not registered", n)
		}
	}
	if got := ordered([]string{"ResourceQuota", "Unknown", "LimitRanger", "NamespaceLifecycle"}); !slices.Equal(got,
		[]string{"NamespaceLifecycle", "LimitRanger", "Unknown", "ResourceQuota"}) {
		t.Errorf("ordered = %v", got)
	}
}
