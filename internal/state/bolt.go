package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var entriesBucket = []byte("entries")

// Bolt is a Store in a bbolt file.
type Bolt struct {
	db *bolt.DB
	// mu guards index. The saves update it after their commits, in
	// commit order (group), so that it says what the file holds.
	mu sync.Mutex
	// index is who holds what, read from the file when first needed and
	// kept by Save: this process alone writes the file (bbolt's lock).
	index *holderIndex
	// commits are the writes waiting for a transaction (group).
	commits groupCommit
}

// ErrLocked: another process holds the bbolt file (a running `k3sync
// serve`, or another apply). bbolt locks the whole file, readers too: a
// read-only open needs a shared lock that the holder's exclusive lock
// refuses, so not even `k3sync plan` can read the file while a daemon has it.
var ErrLocked = errors.New("held by another process")

// OpenBolt opens (creating if needed) the bbolt file at path. Only one
// process may hold it: a second one waits up to timeout (not at all when
// timeout is 0), then fails with [ErrLocked].
func OpenBolt(path string, timeout time.Duration) (*Bolt, error) {
	if timeout <= 0 {
		// bbolt waits forever on 0; anything under its 50 ms retry
		// period is one attempt.
		timeout = time.Nanosecond
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("state %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: open: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{entriesBucket, runsBucket, driftBucket, statusBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err //nolint:wrapcheck // wrapped below
			}
		}
		return nil
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("state %s: init: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Close closes the file.
func (b *Bolt) Close() error { return b.db.Close() } //nolint:wrapcheck // nothing to add

func entryKey(tenant, target string) []byte { return []byte(tenant + "\x00" + target) }

// Load implements Store.
func (b *Bolt) Load(_ context.Context, tenant, target string) (Entry, error) {
	e := Entry{Tenant: tenant, Target: target, Resources: map[string]json.RawMessage{}}
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(entriesBucket).Get(entryKey(tenant, target))
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &e) //nolint:wrapcheck // wrapped below
	})
	if err != nil {
		return Entry{}, fmt.Errorf("state %s %s: load: %w", tenant, target, err)
	}
	if e.Resources == nil {
		e.Resources = map[string]json.RawMessage{}
	}
	return e, nil
}

// Save implements Store.
func (b *Bolt) Save(_ context.Context, e Entry) error {
	if e.Tenant == "" || e.Target == "" {
		return errors.New("state: save: entry without tenant or target")
	}
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("state %s %s: encode: %w", e.Tenant, e.Target, err)
	}
	// The saves of a sync's targets, side by side, share transactions
	// (group); the index follows each commit, in commit order, before
	// the next.
	if err := b.group(func(tx *bolt.Tx) error {
		return tx.Bucket(entriesBucket).Put(entryKey(e.Tenant, e.Target), v) //nolint:wrapcheck // wrapped below
	}, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.index != nil {
			b.index.set(e)
		}
	}); err != nil {
		return fmt.Errorf("state %s %s: save: %w", e.Tenant, e.Target, err)
	}
	return nil
}

// holders implements indexer: the first call reads every entry's IDs.
func (b *Bolt) holders(target string) ([]string, map[string][]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.index == nil {
		ix := newHolderIndex()
		if err := b.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(entriesBucket).ForEach(func(k, v []byte) error {
				var e Entry
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("%q: %w", k, err)
				}
				ix.set(e)
				return nil
			})
		}); err != nil {
			return nil, nil, fmt.Errorf("state: index: %w", err)
		}
		b.index = ix
	}
	tenants, holders := b.index.holders(target)
	return tenants, holders, nil
}

// List implements Store.
func (b *Bolt) List(_ context.Context, target string) ([]Entry, error) {
	var out []Entry
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(entriesBucket).ForEach(func(k, v []byte) error {
			if _, t, _ := strings.Cut(string(k), "\x00"); target != "" && t != target {
				return nil // decode only the target's entries
			}
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return err //nolint:wrapcheck // wrapped below
			}
			if target == "" || e.Target == target {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("state: list: %w", err)
	}
	return out, nil
}
