package runtime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
)

// records mirrors the labels and creation times of the runtime's containerd
// containers (sandbox records and containers), as containerd's CRI plugin
// keeps its sandbox and container stores in memory. The kubelet reads a
// pod's sandboxes and containers on every sync of the pod, and containerd
// answers a filtered list by reading and decoding every container of the
// namespace: thirty pods starting at once made it spend a third of its CPU
// on those lists. containerd stays the record: New loads the mirror from
// it, and every write the runtime makes there (create, label update,
// delete) is applied to the mirror once containerd has it. A container the
// mirror lacks is looked up in containerd before it is called missing.
type records struct {
	mu sync.RWMutex
	m  map[string]record
}

// record is one container's labels (never changed in place: an update
// replaces the map) and creation time.
type record struct {
	id      string
	labels  map[string]string
	created time.Time
}

// loadRecords fills the mirror from containerd's containers of the
// runtime's kinds.
func (r *Runtime) loadRecords(ctx context.Context) error {
	cs, err := r.client.ContainerService().List(r.ctx(ctx), fmt.Sprintf("labels.%q", labelKind))
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	m := make(map[string]record, len(cs))
	for _, c := range cs {
		m[c.ID] = record{id: c.ID, labels: c.Labels, created: c.CreatedAt}
	}
	r.recs.mu.Lock()
	r.recs.m = m
	r.recs.mu.Unlock()
	return nil
}

// putRecord records a container containerd now has with these labels.
func (r *Runtime) putRecord(id string, labels map[string]string, created time.Time) {
	r.recs.mu.Lock()
	defer r.recs.mu.Unlock()
	r.recs.m[id] = record{id: id, labels: labels, created: created}
}

// removeRecord forgets a container containerd no longer has.
func (r *Runtime) removeRecord(id string) {
	r.recs.mu.Lock()
	defer r.recs.mu.Unlock()
	delete(r.recs.m, id)
}

// record returns container id's record, from containerd when the mirror
// lacks it; errdefs.ErrNotFound when neither has it or it is not of kind.
func (r *Runtime) record(ctx context.Context, id, kind string) (record, error) {
	r.recs.mu.RLock()
	rec, ok := r.recs.m[id]
	r.recs.mu.RUnlock()
	if !ok {
		c, err := r.client.ContainerService().Get(r.ctx(ctx), id)
		if err != nil {
			return record{}, err
		}
		if c.Labels[labelKind] == "" {
			return record{}, fmt.Errorf("%s: %w", id, errdefs.ErrNotFound)
		}
		rec = record{id: id, labels: c.Labels, created: c.CreatedAt}
		r.putRecord(id, c.Labels, c.CreatedAt)
	}
	if rec.labels[labelKind] != kind {
		return record{}, fmt.Errorf("%s: %w", id, errdefs.ErrNotFound)
	}
	return rec, nil
}

// listRecords returns the records of kind whose labels include all of
// match, ordered by id as containerd lists them.
func (r *Runtime) listRecords(kind string, match map[string]string) []record {
	r.recs.mu.RLock()
	var out []record
	for _, rec := range r.recs.m {
		if rec.labels[labelKind] != kind {
			continue
		}
		ok := true
		for k, v := range match {
			if rec.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, rec)
		}
	}
	r.recs.mu.RUnlock()
	slices.SortFunc(out, func(a, b record) int { return strings.Compare(a.id, b.id) })
	return out
}

// setLabels sets labels on container c in containerd, then in the mirror.
// The mirror takes the labels set rather than the whole set containerd
// returns, so that two updates of one container (a start and an instant
// exit) applied in either order leave both.
func (r *Runtime) setLabels(ctx context.Context, c containerd.Container, labels map[string]string) error {
	if _, err := c.SetLabels(ctx, labels); err != nil {
		return err
	}
	r.recs.mu.Lock()
	defer r.recs.mu.Unlock()
	if rec, ok := r.recs.m[c.ID()]; ok {
		rec.labels = maps.Clone(rec.labels)
		for k, v := range labels {
			if v == "" {
				delete(rec.labels, k) // as containerd does
			} else {
				rec.labels[k] = v
			}
		}
		r.recs.m[c.ID()] = rec
	}
	return nil
}
