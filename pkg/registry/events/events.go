// Package events assembles the storages of the events.k8s.io/v1 group version, over the
// storage of core/v1 events.
package events

import (
	eventsv1 "k8s.io/api/events/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/events/event"
	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

func init() { store.MustRegister(event.Resource) }

// Group builds events.k8s.io/v1.
func Group(opts *store.Options) (*store.Group, error) {
	shared := *opts
	shared.RESTOptions = event.SharedStorage(opts.RESTOptions)
	return store.BuildGroup(eventsv1.SchemeGroupVersion, &shared, event.Resource)
}
