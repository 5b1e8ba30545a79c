// Package admission holds the admission plugins of kube-apiserver that k8s.io/apiserver
// does not ship (one sub-package each, named after upstream's plugin directory), and
// enables them on the server in kube-apiserver's order.
//
//	opts := genericoptions.NewAdmissionOptions()
//	initializers := admission.Configure(opts)
//	err := opts.ApplyTo(cfg, informers, client, dynamic, features, version, initializers...)
package admission

import (
	"slices"

	"k8s.io/apiserver/pkg/admission"
	genericoptions "k8s.io/apiserver/pkg/server/options"

	"github.com/skiff-k8s/skiff/pkg/apiserver/admission/defaulttolerationseconds"
	"github.com/skiff-k8s/skiff/pkg/apiserver/admission/priority"
	"github.com/skiff-k8s/skiff/pkg/apiserver/admission/resourcequota"
	"github.com/skiff-k8s/skiff/pkg/apiserver/admission/serviceaccount"
)

// upstreamOrder is kube-apiserver's AllOrderedPlugins. The mutating plugins run in this
// order, then the validating ones in this order; webhooks and ResourceQuota come last
// so that quota is charged for the object as finally admitted.
var upstreamOrder = []string{
	"AlwaysAdmit",
	"NamespaceAutoProvision",
	"NamespaceLifecycle",
	"NamespaceExists",
	"LimitPodHardAntiAffinityTopology",
	"LimitRanger",
	"ServiceAccount",
	"NodeRestriction",
	"TaintNodesByCondition",
	"AlwaysPullImages",
	"ImagePolicyWebhook",
	"PodSecurity",
	"PodNodeSelector",
	"Priority",
	"DefaultTolerationSeconds",
	"PodTolerationRestriction",
	"EventRateLimit",
	"ExtendedResourceToleration",
	"DefaultStorageClass",
	"StorageObjectInUseProtection",
	"OwnerReferencesPermissionEnforcement",
	"PersistentVolumeClaimResize",
	"RuntimeClass",
	"CertificateApproval",
	"CertificateSigning",
	"ClusterTrustBundleAttest",
	"CertificateSubjectRestriction",
	"DefaultIngressClass",
	"DenyServiceExternalIPs",
	"PodTopologyLabels",
	"MutatingAdmissionPolicy",
	"MutatingAdmissionWebhook",
	"ValidatingAdmissionPolicy",
	"ValidatingAdmissionWebhook",
	"ResourceQuota",
	"AlwaysDeny",
}

// Configure registers skiff's plugins on opts and enables them, with the plugins
// already recommended, in upstream's order. It returns the plugin initializers that
// opts.ApplyTo needs besides the generic ones.
func Configure(opts *genericoptions.AdmissionOptions) []admission.PluginInitializer {
	serviceaccount.Register(opts.Plugins)
	priority.Register(opts.Plugins)
	defaulttolerationseconds.Register(opts.Plugins)
	resourcequota.Register(opts.Plugins)
	opts.RecommendedPluginOrder = ordered(append(opts.RecommendedPluginOrder,
		serviceaccount.PluginName, priority.PluginName, defaulttolerationseconds.PluginName, resourcequota.PluginName))
	return []admission.PluginInitializer{resourcequota.NewInitializer()}
}

// ordered sorts plugin names by upstream's order; names upstream does not know keep
// their relative order before ResourceQuota, where upstream adds new plugins.
func ordered(names []string) []string {
	rank := func(n string) int {
		if i := slices.Index(upstreamOrder, n); i >= 0 {
			return 2 * i
		}
		return 2*slices.Index(upstreamOrder, "MutatingAdmissionPolicy") - 1
	}
	out := slices.Clone(names)
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return slices.Compact(out)
}
