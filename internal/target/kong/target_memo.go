package kong

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"
)

// fingerprint is a sha256 digest of the canonical bytes of a diff's
// inputs.
type fingerprint = [sha256.Size]byte

// memo remembers the tenants whose last diff found nothing to do, so that
// a plan skips go-database-reconciler for a tenant whose inputs have not
// changed since, and the changes a plan's diff found, so that the apply
// that follows it makes them without diffing the same inputs again. A tenant's entry is the fingerprint of everything its
// diff read but the schemas (see fingerprintOf); the schemas, shared by
// every tenant, are remembered once, by the digest of each answer, and any
// that answers differently empties the memo. An input that changes
// changes the fingerprint: nothing has to invalidate an entry.
//
// Plans may run concurrently (the daemon's drift check, a review, an
// apply): gen changes whenever the memo is emptied, and a plan only uses
// and fills the generation whose schemas it checked.
type memo struct {
	mu      sync.Mutex
	gen     uint64
	tenants map[string]memoEntry
	// schemas maps the request URI of every schema a remembered diff may
	// have read to the digest of the gateway's answer.
	schemas map[string]fingerprint
}

// memoEntry is a tenant whose diff found nothing to do, or, with
// pending, the changes it found.
type memoEntry struct {
	fingerprint fingerprint
	// pending are the items of a plan's diff that found changes, as the
	// diff made them (before the delete cap). Only plans remember them:
	// an apply changes the inputs.
	pending []*item
	// current: an apply found the tenant's record in the state store up
	// to date (save had nothing to write). Only such a tenant may be
	// skipped by an apply, which would otherwise save its record: a plan
	// does not compute records, which costs about a third of a diff.
	current bool
}

// reset empties the memo and starts a new generation. m.mu is held.
func (m *memo) reset() {
	m.gen++
	m.tenants = map[string]memoEntry{}
	m.schemas = map[string]fingerprint{}
}

// check asks the gateway again for every schema the memo depends on and
// empties the memo when one answers differently or cannot be read. It
// returns the generation the plan may use. The answers stay in the
// session's cache, for the diffs that follow.
func (m *memo) check(ctx context.Context, s *session, concurrency int) uint64 {
	m.mu.Lock()
	gen, want := m.gen, maps.Clone(m.schemas)
	m.mu.Unlock()
	if len(want) == 0 {
		return gen
	}
	uris := slices.Sorted(maps.Keys(want))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, uri := range uris {
		g.Go(func() error {
			got, err := s.transport.schemaSum(gctx, uri)
			if err != nil {
				return err
			}
			if got != want[uri] {
				return fmt.Errorf("schema %s changed", uri)
			}
			return nil
		})
	}
	if g.Wait() == nil {
		return gen
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == gen {
		m.reset()
	}
	return m.gen
}

// lookup returns the tenant's entry when its last diff in generation gen
// had inputs of fingerprint fp.
func (m *memo) lookup(gen uint64, tenant string, fp fingerprint) (memoEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.tenants[tenant]
	return e, ok && m.gen == gen && e.fingerprint == fp
}

// takePending removes and returns the changes the tenant's entry of
// generation gen remembers for inputs of fingerprint fp, if any.
func (m *memo) takePending(gen uint64, tenant string, fp fingerprint) []*item {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.tenants[tenant]
	if !ok || m.gen != gen || e.fingerprint != fp || e.pending == nil {
		return nil
	}
	delete(m.tenants, tenant)
	return e.pending
}

// record remembers the plan's settled tenants, and with keepPending the
// changes of the others it diffed, and forgets the others it planned,
// and, when the plan covered every tenant (complete), the
// tenants it did not plan: the memo holds no more tenants than are in
// scope. Tenants the memo skipped keep their entry. sums are the digests
// of the schemas the plan's session read. A plan that checked an older
// generation records nothing; one whose schemas answered differently from
// those remembered replaces the memo.
func (m *memo) record(gp *gatewayPlan, sums map[string]fingerprint, complete, keepPending bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen != gp.gen {
		return
	}
	if m.tenants == nil {
		m.tenants, m.schemas = map[string]memoEntry{}, map[string]fingerprint{}
	}
	for uri, sum := range sums {
		if old, ok := m.schemas[uri]; ok && old != sum {
			m.reset()
			break
		}
	}
	maps.Copy(m.schemas, sums)
	planned := make(map[string]bool, len(gp.tenants)+len(gp.failed))
	for _, tn := range gp.failed {
		planned[tn] = true
		delete(m.tenants, tn)
	}
	for _, tp := range gp.tenants {
		planned[tp.tenant] = true
		switch {
		case tp.settled:
			m.tenants[tp.tenant] = memoEntry{fingerprint: tp.fingerprint, current: tp.current}
		case keepPending && tp.diffed != nil:
			m.tenants[tp.tenant] = memoEntry{fingerprint: tp.fingerprint, pending: tp.diffed}
		case keepPending && tp.reused:
		case !tp.memoized:
			delete(m.tenants, tp.tenant)
		}
	}
	if complete {
		maps.DeleteFunc(m.tenants, func(tn string, _ memoEntry) bool { return !planned[tn] })
	}
	if len(m.tenants) == 0 {
		// Nothing depends on the schemas any more.
		clear(m.schemas)
	}
}

// fingerprintOf is the digest of what a tenant's diff reads besides the
// schemas: the Kong version (file.Get's defaults depend on it), the
// tenant's desired Kong resources, its slice of this plan's live read and
// the state store's record of what k3sync last applied (the base of drift,
// and what save compares with).
//
// Each part is canonical JSON (struct fields in declaration order, map
// keys sorted), live entities of each kind sorted by ID. Live entities are
// encoded whole, IDs and timestamps included, so that a PATCH, a delete or
// a new tagged entity changes the fingerprint; foreign entities are never
// read, so they cannot. Key-auth keys enter as their SHA-256 digest, the
// one the inventory records (keySum): a key changed outside k3sync
// changes the fingerprint, and no key is hashed into it as is.
func fingerprintOf(s *session, tp *tenantPlan) (fingerprint, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	raw := &tp.live.raw
	keyAuths := make([]*gokong.KeyAuth, len(tp.live.keyAuths))
	for i, k := range tp.live.keyAuths {
		redacted := *k
		if k.Key != nil {
			// A key changed outside k3sync is drift (planKeyDrift):
			// its digest, never the key, is part of the inputs.
			redacted.Key = gokong.String(keySum(*k.Key))
		}
		keyAuths[i] = &redacted
	}
	parts := []any{
		"k3sync kong diff inputs v1",
		s.render.KongVersion.String(),
		tp.tenant,
		tp.desired,
		tp.entry.Resources,
		byID(raw.Services, func(e *gokong.Service) *string { return e.ID }),
		byID(raw.Routes, func(e *gokong.Route) *string { return e.ID }),
		byID(raw.Plugins, func(e *gokong.Plugin) *string { return e.ID }),
		byID(raw.Consumers, func(e *gokong.Consumer) *string { return e.ID }),
		byID(raw.ACLGroups, func(e *gokong.ACLGroup) *string { return e.ID }),
		byID(raw.Upstreams, func(e *gokong.Upstream) *string { return e.ID }),
		byID(raw.Targets, func(e *gokong.Target) *string { return e.ID }),
		byID(keyAuths, func(e *gokong.KeyAuth) *string { return e.ID }),
	}
	if len(tp.adopted) > 0 || len(tp.adoptKeys) > 0 {
		// What the tenant adopts is part of its slice (live, above); the
		// key-auth credentials it adopts enter by ID and digest.
		keys := map[string][]any{}
		for u, ak := range tp.adoptKeys {
			keys[u] = []any{str(ak.cred.ID), keySum(str(ak.cred.Key)), ak.others}
		}
		parts = append(parts, "adopted", tp.adopted, keys)
	}
	for _, p := range parts {
		if err := enc.Encode(p); err != nil {
			return fingerprint{}, fmt.Errorf("fingerprint: %w", err)
		}
	}
	return fingerprint(h.Sum(nil)), nil
}

// byID is a sorted copy of entities, by ID: the order of Kong's pages is
// not part of the state.
func byID[E any](es []E, id func(E) *string) []E {
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b E) int { return cmp.Compare(str(id(a)), str(id(b))) })
	return out
}
