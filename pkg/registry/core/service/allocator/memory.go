package allocator

import (
	"context"
	"sync"
)

// Memory is a Backend in memory, for tests of the allocators and their callers.
type Memory struct {
	mu     sync.Mutex
	owners map[int]Owner
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{owners: map[int]Owner{}} }

// Claim implements Backend.
func (m *Memory) Claim(_ context.Context, offset int, owner Owner) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.owners[offset]; ok {
		return ErrExists
	}
	m.owners[offset] = owner
	return nil
}

// Owner implements Backend.
func (m *Memory) Owner(_ context.Context, offset int) (Owner, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.owners[offset]
	return o, ok, nil
}

// Release implements Backend.
func (m *Memory) Release(_ context.Context, offset int, owner Owner) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owners[offset] == owner {
		delete(m.owners, offset)
	}
	return nil
}

// Claimed implements Backend.
func (m *Memory) Claimed(context.Context) ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int, 0, len(m.owners))
	for o := range m.owners {
		out = append(out, o)
	}
	return out, nil
}
