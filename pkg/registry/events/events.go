// Package events assembles the storages of the events/v1 group version.
package events

import (
	eventsv1 "k8s.io/api/events/v1"

	"github.com/skiff-k8s/skiff/pkg/registry/store"
)

// Group builds events/v1.
func Group(opts *store.Options) (*store.Group, error) {
	return store.BuildGroup(eventsv1.SchemeGroupVersion, opts)
}
