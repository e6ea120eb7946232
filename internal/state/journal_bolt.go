package state

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

var (
	runsBucket   = []byte("runs")
	driftBucket  = []byte("drift")
	statusBucket = []byte("status")
)

// runKey sorts a tenant's runs oldest first: IDs are time-ordered.
func runKey(r Run) []byte { return []byte(r.Tenant + "\x00" + r.ID) }

// AddRun implements Journal: the run, the trimmed history and the status
// in one transaction, which runs added meanwhile by other goroutines
// share (group): the reconciler records many tenants' runs at once, and
// each transaction is an fsync. AddRun returns once its run is committed.
func (b *Bolt) AddRun(_ context.Context, r Run) error {
	if err := b.group(func(tx *bolt.Tx) error {
		if err := putRun(tx, r); err != nil {
			return err
		}
		return updateStatus(tx, r.Tenant, func(s TenantStatus) TenantStatus { return nextStatus(s, r) })
	}, nil); err != nil {
		return fmt.Errorf("state: run %s: save: %w", r.ID, err)
	}
	return nil
}

// groupCommit queues the writes that wait for the transaction being
// committed.
type groupCommit struct {
	mu     sync.Mutex
	queue  []*groupCall
	active bool // a goroutine commits the queue
}

type groupCall struct {
	fn        func(*bolt.Tx) error
	committed func()
	done      chan error
}

// group runs fn in a write transaction and returns once it is committed.
// A call made while none is being committed commits at once, alone;
// calls made while one is being committed wait for it and then share the
// next (a group commit: one fsync for all). Unlike bbolt's Batch, no
// call waits for others to join. A transaction that one call's fn fails
// is run again call by call, so that the others commit and only that
// call fails; fn must therefore do nothing but write tx. committed, when
// not nil, runs once fn's write is committed, before any later
// transaction is: in commit order.
func (b *Bolt) group(fn func(*bolt.Tx) error, committed func()) error {
	c := &groupCall{fn: fn, committed: committed, done: make(chan error, 1)}
	g := &b.commits
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.active
	g.active = true
	g.mu.Unlock()
	if lead {
		b.commitGroup()
	}
	return <-c.done
}

// commitGroup commits the queued calls in one transaction, then hands
// the calls queued meanwhile to a goroutine of their own: the caller
// that led returns with its own write committed.
func (b *Bolt) commitGroup() {
	g := &b.commits
	g.mu.Lock()
	calls := g.queue
	g.queue = nil
	g.mu.Unlock()
	err := b.db.Update(func(tx *bolt.Tx) error {
		for _, c := range calls {
			if err := c.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	for _, c := range calls {
		err := err
		if err != nil && len(calls) > 1 {
			err = b.db.Update(c.fn)
		}
		if err == nil && c.committed != nil {
			c.committed()
		}
		c.done <- err
	}
	g.mu.Lock()
	more := len(g.queue) > 0
	g.active = more
	g.mu.Unlock()
	if more {
		go b.commitGroup()
	}
}

// SetSuspension implements Journal: the history entry, the trimmed
// history and the status in one transaction.
func (b *Bolt) SetSuspension(_ context.Context, s Suspension) error {
	if err := b.db.Update(func(tx *bolt.Tx) error {
		if err := putRun(tx, s.Entry()); err != nil {
			return err
		}
		return updateStatus(tx, s.Tenant, func(st TenantStatus) TenantStatus { return withSuspension(st, s) })
	}); err != nil {
		return fmt.Errorf("state: suspension of %s: save: %w", s.Tenant, err)
	}
	return nil
}

// putRun adds r to its tenant's history, trimmed to MaxRunsPerTenant.
func putRun(tx *bolt.Tx, r Run) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	runs := tx.Bucket(runsBucket)
	if err := runs.Put(runKey(r), v); err != nil {
		return err //nolint:wrapcheck // wrapped by the caller
	}
	prefix := []byte(r.Tenant + "\x00")
	var keys [][]byte
	c := runs.Cursor()
	for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for len(keys) > MaxRunsPerTenant {
		if err := runs.Delete(keys[0]); err != nil {
			return err //nolint:wrapcheck // wrapped by the caller
		}
		keys = keys[1:]
	}
	return nil
}

// updateStatus replaces the tenant's status with next(status).
func updateStatus(tx *bolt.Tx, tenant string, next func(TenantStatus) TenantStatus) error {
	st := tx.Bucket(statusBucket)
	var s TenantStatus
	if raw := st.Get([]byte(tenant)); raw != nil {
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("status: %w", err)
		}
	}
	sv, err := json.Marshal(next(s))
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return st.Put([]byte(tenant), sv) //nolint:wrapcheck // wrapped by the caller
}

func hasPrefix(k, p []byte) bool { return len(k) >= len(p) && string(k[:len(p)]) == string(p) }

// Runs implements Journal.
func (b *Bolt) Runs(_ context.Context, tenant string, limit int) ([]Run, error) {
	var out []Run
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(runsBucket).Cursor()
		prefix := []byte(tenant + "\x00")
		k, v := c.First()
		if tenant != "" {
			k, v = c.Seek(prefix)
		}
		for ; k != nil && (tenant == "" || hasPrefix(k, prefix)); k, v = c.Next() {
			var r Run
			if err := json.Unmarshal(v, &r); err != nil {
				return err //nolint:wrapcheck // wrapped below
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: runs: %w", err)
	}
	return newestFirst(out, limit), nil
}

// SaveDrift implements Journal.
func (b *Bolt) SaveDrift(_ context.Context, d Drift) error {
	return b.put(driftBucket, d.Tenant, d)
}

// Drifts implements Journal.
func (b *Bolt) Drifts(_ context.Context) ([]Drift, error) {
	var out []Drift
	return out, b.each(driftBucket, func(v []byte) error {
		var d Drift
		err := json.Unmarshal(v, &d)
		out = append(out, d)
		return err //nolint:wrapcheck // wrapped by each
	})
}

// Statuses implements Journal.
func (b *Bolt) Statuses(_ context.Context) ([]TenantStatus, error) {
	var out []TenantStatus
	return out, b.each(statusBucket, func(v []byte) error {
		var s TenantStatus
		err := json.Unmarshal(v, &s)
		out = append(out, s)
		return err //nolint:wrapcheck // wrapped by each
	})
}

// Status implements Journal.
func (b *Bolt) Status(_ context.Context, tenant string) (TenantStatus, error) {
	var s TenantStatus
	if err := b.db.View(func(tx *bolt.Tx) error {
		if raw := tx.Bucket(statusBucket).Get([]byte(tenant)); raw != nil {
			return json.Unmarshal(raw, &s) //nolint:wrapcheck // wrapped below
		}
		return nil
	}); err != nil {
		return TenantStatus{}, fmt.Errorf("state: status of %s: %w", tenant, err)
	}
	return s, nil
}

func (b *Bolt) put(bucket []byte, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state: %s %s: encode: %w", bucket, key, err)
	}
	if err := b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key), raw) //nolint:wrapcheck // wrapped below
	}); err != nil {
		return fmt.Errorf("state: %s %s: save: %w", bucket, key, err)
	}
	return nil
}

// each visits a bucket's values in key order (tenant order).
func (b *Bolt) each(bucket []byte, fn func([]byte) error) error {
	if err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error { return fn(v) })
	}); err != nil {
		return fmt.Errorf("state: %s: %w", bucket, err)
	}
	return nil
}
