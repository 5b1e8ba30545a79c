package apiserver

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	apiregistrationclient "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset/typed/apiregistration/v1"
	apiregistrationlisters "k8s.io/kube-aggregator/pkg/client/listers/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/controllers/autoregister"
)

// metricsGroupVersion is served in-process (pkg/registry/metrics), where
// upstream needs metrics-server. A user may still install metrics-server:
// its APIService names a Service, and then it is theirs.
var metricsGroupVersion = schema.GroupVersion{Group: "metrics.k8s.io", Version: "v1beta1"}

// userOwnsMetricsAPIService reports whether v1beta1.metrics.k8s.io points at
// a Service (metrics-server's, installed over skiff's local one). Then it
// must not be registered again as local on start, which would undo the
// user's install at every restart; and it loses the aggregator's
// automanaged label, with which the start-up sync would delete it as no
// longer wanted. Any other answer leaves the local registration to go on.
//
// The aggregator's start-up sync reads its informer's cache, so the release
// is waited for there before the sync may run.
func userOwnsMetricsAPIService(ctx context.Context, client apiregistrationclient.ApiregistrationV1Interface, cached apiregistrationlisters.APIServiceLister) bool {
	name := metricsGroupVersion.Version + "." + metricsGroupVersion.Group
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := client.APIServices().Get(ctx, name, metav1.GetOptions{})
	if err != nil || s.Spec.Service == nil {
		if err != nil && !apierrors.IsNotFound(err) {
			klog.FromContext(ctx).Error(err, "Cannot read the metrics APIService; serving metrics.k8s.io in-process")
		}
		return false
	}
	if _, ok := s.Labels[autoregister.AutoRegisterManagedLabel]; ok {
		s = s.DeepCopy()
		delete(s.Labels, autoregister.AutoRegisterManagedLabel)
		if _, err := client.APIServices().Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			klog.FromContext(ctx).Error(err, "Cannot release the metrics APIService to its Service")
		}
		_ = wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(context.Context) (bool, error) {
			c, err := cached.Get(name)
			if err != nil {
				return apierrors.IsNotFound(err), nil
			}
			_, labelled := c.Labels[autoregister.AutoRegisterManagedLabel]
			return !labelled, nil
		})
	}
	klog.FromContext(ctx).Info("metrics.k8s.io is served by a Service; the in-process metrics API stays unregistered",
		"service", s.Spec.Service.Namespace+"/"+s.Spec.Service.Name)
	return true
}

// localAPIService is the APIService of a group version served in-process.
func localAPIService(gv schema.GroupVersion, p apiServicePriority) *apiregistrationv1.APIService {
	return &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: gv.Version + "." + gv.Group},
		Spec: apiregistrationv1.APIServiceSpec{
			Group: gv.Group, Version: gv.Version,
			GroupPriorityMinimum: p.group, VersionPriority: p.version,
		},
	}
}
