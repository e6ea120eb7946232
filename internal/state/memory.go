package state

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"
)

// Memory is a Store in memory, for tests and dry runs.
type Memory struct {
	mu      sync.Mutex
	entries map[[2]string]Entry
	// Saves counts Save calls, so tests can assert a no-op run wrote nothing.
	saves int
	j     *memoryJournal
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{entries: map[[2]string]Entry{}} }

// Load implements Store.
func (m *Memory) Load(_ context.Context, tenant, target string) (Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[[2]string{tenant, target}]
	if !ok {
		return Entry{Tenant: tenant, Target: target, Resources: map[string]json.RawMessage{}}, nil
	}
	return e.Clone(), nil
}

// Save implements Store.
func (m *Memory) Save(_ context.Context, e Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	m.entries[[2]string{e.Tenant, e.Target}] = e.Clone()
	return nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, target string) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for k, e := range m.entries {
		if target == "" || k[1] == target {
			out = append(out, e.Clone())
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Target, b.Target)) })
	return out, nil
}

// Saves returns how many times Save was called.
func (m *Memory) Saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}
