package event

import (
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
)

// SharedStorage returns a RESTOptionsGetter that gives events.k8s.io/v1 events the
// storage of core/v1 events: the same keys (/registry/events/<ns>/<name>), encoded as
// core/v1 Events, with a codec that converts on the way in and out. Both APIs then see
// the same events, as upstream's cohabiting storage makes them.
func SharedStorage(inner generic.RESTOptionsGetter) generic.RESTOptionsGetter {
	return sharedGetter{inner}
}

type sharedGetter struct{ inner generic.RESTOptionsGetter }

func (g sharedGetter) GetRESTOptions(resource schema.GroupResource, example runtime.Object) (generic.RESTOptions, error) {
	if resource != eventsv1.Resource("events") {
		return g.inner.GetRESTOptions(resource, example)
	}
	opts, err := g.inner.GetRESTOptions(corev1.Resource("events"), &corev1.Event{})
	if err != nil {
		return opts, err
	}
	cfg := *opts.StorageConfig
	cfg.Codec = &coreEventCodec{inner: cfg.Codec}
	cfg.EncodeVersioner = coreEventKind{}
	opts.StorageConfig = &cfg
	return opts, nil
}

// coreEventCodec stores events.k8s.io/v1 Events through the core/v1 storage codec.
type coreEventCodec struct{ inner runtime.Codec }

func (c *coreEventCodec) Encode(obj runtime.Object, w io.Writer) error {
	e, ok := obj.(*eventsv1.Event)
	if !ok {
		return c.inner.Encode(obj, w)
	}
	return c.inner.Encode(ToCore(e), w)
}

func (c *coreEventCodec) Identifier() runtime.Identifier {
	return runtime.Identifier("eventsv1-as-corev1:" + string(c.inner.Identifier()))
}

func (c *coreEventCodec) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	out, isEvent := into.(*eventsv1.Event)
	if into != nil && !isEvent {
		return c.inner.Decode(data, defaults, into)
	}
	obj, gvk, err := c.inner.Decode(data, defaults, &corev1.Event{})
	if err != nil {
		return nil, gvk, err
	}
	ce, ok := obj.(*corev1.Event)
	if !ok {
		return nil, gvk, fmt.Errorf("stored event decoded as %T", obj)
	}
	if out == nil {
		out = &eventsv1.Event{}
	}
	FromCore(ce, out)
	return out, gvk, nil
}

// coreEventKind reports core/v1 Event as the storage version of events.k8s.io events,
// which is what the storage version hash in discovery is computed from.
type coreEventKind struct{}

func (coreEventKind) KindForGroupVersionKinds([]schema.GroupVersionKind) (schema.GroupVersionKind, bool) {
	return corev1.SchemeGroupVersion.WithKind("Event"), true
}

func (coreEventKind) Identifier() string { return "corev1-event" }
