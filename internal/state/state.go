package state

import (
	"context"
	"encoding/json"
	"maps"
	"time"
)

// Entry is what k3sync remembers about one tenant on one target.
type Entry struct {
	Tenant string `json:"tenant"`
	// Target is system/name, e.g. "kafka/main".
	Target string `json:"target"`
	// Revision is the Git commit last applied.
	Revision string `json:"revision,omitempty"`
	// Resources maps resource IDs to their last applied value.
	Resources map[string]json.RawMessage `json:"resources"`
	UpdatedAt time.Time                  `json:"updatedAt"`
}

// Owns reports whether the inventory holds id.
func (e *Entry) Owns(id string) bool {
	_, ok := e.Resources[id]
	return ok
}

// Clone returns a deep enough copy to modify Resources.
func (e Entry) Clone() Entry {
	e.Resources = maps.Clone(e.Resources)
	if e.Resources == nil {
		e.Resources = map[string]json.RawMessage{}
	}
	return e
}

// Store keeps entries.
type Store interface {
	// Load returns the entry of tenant on target; an empty entry (no
	// resources) when there is none.
	Load(ctx context.Context, tenant, target string) (Entry, error)
	// Save replaces the entry atomically.
	Save(ctx context.Context, e Entry) error
	// List returns every entry of target (all targets if empty), sorted by
	// tenant then target.
	List(ctx context.Context, target string) ([]Entry, error)
}
