package evaluator

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

// Listers list the objects of a namespace for each kind the evaluators measure; the
// controller gives informer listers, admission none (it measures one object at a time).
type Listers struct {
	Pods, Services, PersistentVolumeClaims                      generic.ListFuncByNamespace
	ConfigMaps, Secrets, ReplicationControllers, ResourceQuotas generic.ListFuncByNamespace
}

// NewEvaluators returns the evaluators of the kinds quota knows beyond object counts.
func NewEvaluators(l Listers) []quota.Evaluator {
	return []quota.Evaluator{
		NewPodEvaluator(l.Pods, time.Now),
		NewServiceEvaluator(l.Services),
		NewPersistentVolumeClaimEvaluator(l.PersistentVolumeClaims),
		NewCountEvaluator(corev1.Resource("configmaps"), corev1.ResourceConfigMaps, l.ConfigMaps),
		NewCountEvaluator(corev1.Resource("secrets"), corev1.ResourceSecrets, l.Secrets),
		NewCountEvaluator(corev1.Resource("replicationcontrollers"), corev1.ResourceReplicationControllers, l.ReplicationControllers),
		NewCountEvaluator(corev1.Resource("resourcequotas"), corev1.ResourceQuotas, l.ResourceQuotas),
	}
}

// NewCountEvaluator counts objects of gr, also under its legacy name alias when set
// (configmaps, secrets, replicationcontrollers, resourcequotas).
func NewCountEvaluator(gr schema.GroupResource, alias corev1.ResourceName, list generic.ListFuncByNamespace) quota.Evaluator {
	return generic.NewObjectCountEvaluator(gr, list, alias)
}

// ignoredResources are upstream's: virtual resources that are never stored, and events.
var ignoredResources = map[schema.GroupResource]struct{}{
	{Resource: "bindings"}:                                                 {},
	{Resource: "componentstatuses"}:                                        {},
	{Group: "authentication.k8s.io", Resource: "tokenreviews"}:             {},
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:       {},
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}:      {},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}:  {},
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: {},
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}:   {},
	{Resource: "events"}:                         {},
	{Group: "events.k8s.io", Resource: "events"}: {},
}

// NewConfigurationForAdmission is the quota configuration of the ResourceQuota
// admission plugin; other resources get object-count evaluators as quotas name them.
func NewConfigurationForAdmission() quota.Configuration {
	return generic.NewConfiguration(NewEvaluators(Listers{}), ignoredResources)
}
