package controllers

import (
	"sync"
	"time"
)

// ExpectationsTimeout is how long a controller waits for the watch to show the pods
// it created or deleted before it trusts its cache again (upstream: 5 minutes).
const ExpectationsTimeout = 5 * time.Minute

// Expectations count, per controller key, the creations and deletions a controller
// has asked for and not yet seen in its informer. While any are outstanding the
// controller must not act on its cache, which lags its own writes: that is what stops
// it creating more pods than asked when its watch is slow.
type Expectations struct {
	mu    sync.Mutex
	items map[string]*expectation
	now   func() time.Time
}

type expectation struct {
	add, del  int64
	timestamp time.Time
}

// NewExpectations returns an empty set.
func NewExpectations() *Expectations {
	return &Expectations{items: map[string]*expectation{}, now: time.Now}
}

// Satisfied reports whether key has nothing outstanding (or its expectations have
// expired, or were never set).
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		return true
	}
	return (x.add <= 0 && x.del <= 0) || e.now().Sub(x.timestamp) > ExpectationsTimeout
}

// Expect records that key is about to create add and delete del objects,
// replacing what was recorded before.
func (e *Expectations) Expect(key string, add, del int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{add: int64(add), del: int64(del), timestamp: e.now()}
}

// ExpectCreations is Expect(key, n, 0).
func (e *Expectations) ExpectCreations(key string, n int) { e.Expect(key, n, 0) }

// ExpectDeletions is Expect(key, 0, n).
func (e *Expectations) ExpectDeletions(key string, n int) { e.Expect(key, 0, n) }

// CreationObserved lowers key's outstanding creations by one: call it when the
// informer shows a new object, or when a create failed and will not be seen.
func (e *Expectations) CreationObserved(key string) { e.lower(key, 1, 0) }

// DeletionObserved lowers key's outstanding deletions by one.
func (e *Expectations) DeletionObserved(key string) { e.lower(key, 0, 1) }

func (e *Expectations) lower(key string, add, del int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok {
		x.add -= add
		x.del -= del
	}
}

// Delete forgets key (its owner is gone).
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
