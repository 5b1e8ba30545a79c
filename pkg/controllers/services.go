package controllers

import (
	"fmt"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	endpointsliceutil "k8s.io/endpointslice/util"
)

// PodServicesHandler queues, for each pod event, the keys of the Services whose
// endpoints it may change: those the pod matches now and, when its labels changed,
// those it matched before. The endpoint and endpointslice controllers share it.
func PodServicesHandler(services corelisters.ServiceLister, q Queue) cache.ResourceEventHandlerFuncs {
	onPodChange := func(old, cur interface{}) {
		key := endpointsliceutil.GetPodUpdateProjectionKey(old, cur)
		keys, err := endpointsliceutil.GetServicesToUpdate(services, key)
		if err != nil {
			utilruntime.HandleError(fmt.Errorf("unable to get pod service memberships: %w", err))
			return
		}
		for k := range keys {
			q.Add(k)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { onPodChange(nil, obj) },
		UpdateFunc: onPodChange,
		DeleteFunc: func(obj interface{}) { onPodChange(obj, nil) },
	}
}
