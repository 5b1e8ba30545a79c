// Package resourcequota enables k8s.io/apiserver's ResourceQuota admission plugin with
// the quota evaluators of pkg/quota/evaluator: a create or update that would take a
// namespace past one of its ResourceQuotas is refused (403) with upstream's message,
//
//	exceeded quota: <quota>, requested: pods=1, used: pods=2, limited: pods=2
//
// and an admitted one is charged to the quota's status.used at once, before the
// resource quota controller measures it again.
//
//	resourcequota.Register(plugins)
//	err := opts.ApplyTo(…, resourcequota.NewInitializer())
package resourcequota

import (
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	quota "k8s.io/apiserver/pkg/quota/v1"

	"github.com/skiff-k8s/skiff/pkg/quota/evaluator"
)

// PluginName is the name kube-apiserver gives this plugin.
const PluginName = resourcequota.PluginName

// Register registers the plugin.
func Register(plugins *admission.Plugins) { resourcequota.Register(plugins) }

// NewInitializer gives the plugin its quota configuration: skiff's evaluators and
// upstream's ignored resources.
func NewInitializer() admission.PluginInitializer {
	return configInitializer{cfg: evaluator.NewConfigurationForAdmission()}
}

type configInitializer struct{ cfg quota.Configuration }

func (i configInitializer) Initialize(p admission.Interface) {
	if w, ok := p.(initializer.WantsQuotaConfiguration); ok {
		w.SetQuotaConfiguration(i.cfg)
	}
}
