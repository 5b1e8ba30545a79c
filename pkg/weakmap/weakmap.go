// Package weakmap is a map that holds its values weakly: it never keeps a value
// alive, and an entry leaves the map once the garbage collector has collected its
// value (unless a newer value took its place meanwhile). The apiserver's watch
// codec keeps the last decoded version of each Pod and Node in one, and the
// controllers' informers the one decoded copy of each object version they share.
package weakmap

import (
	"runtime"
	"sync"
	"weak"
)

// Map maps keys to values held weakly. It is safe for concurrent use.
type Map[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]weak.Pointer[V]
}

// New returns an empty map.
func New[K comparable, V any]() *Map[K, V] {
	return &Map[K, V]{m: map[K]weak.Pointer[V]{}}
}

// Update calls fn with the value k holds (nil when none is left) and stores the
// value fn returns, if it is another one and not nil. fn runs under the map's
// lock, so a value stored is seen by the next Update of k only once fn has
// finished with it. Update returns the value k held before.
func (m *Map[K, V]) Update(k K, fn func(held *V) *V) *V {
	m.mu.Lock()
	defer m.mu.Unlock()
	held := m.m[k].Value()
	if v := fn(held); v != nil && v != held {
		m.m[k] = weak.Make(v)
		runtime.AddCleanup(v, m.forget, k)
	}
	return held
}

// forget drops k once its value is collected, unless a newer value took its place.
func (m *Map[K, V]) forget(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m[k].Value() == nil {
		delete(m.m, k)
	}
}

// Len is the number of entries, some of which may hold values already collected
// whose cleanup has not run yet.
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}
