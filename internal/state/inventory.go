package state

import (
	"context"
	"fmt"
	"slices"
)

// Inventories is every tenant's inventory on one target as a plan needs
// it: who holds what, for the checks that keep a tenant off what another
// tenant owns, and the entries of the tenants in the plan's scope.
//
// On a store that indexes who holds what ([Bolt]), reading it decodes no
// entry, and [Inventories.Entry] reads only the tenants asked for: a
// plan of one tenant reads one entry, not every tenant's (ADR 0008). On
// other stores it is one List.
type Inventories struct {
	// Tenants have an entry on the target, sorted.
	Tenants []string
	// Holders maps a resource ID to the tenants whose inventory holds
	// it, sorted. Read only: a store may share it between reads.
	Holders map[string][]string
	// entries are every entry, read in bulk; nil when Entry loads.
	entries map[string]Entry
	store   Store
	target  string
}

// indexer is a Store that keeps who holds what in memory.
type indexer interface {
	holders(target string) (tenants []string, holders map[string][]string, err error)
}

// ReadInventories reads who holds what on target.
func ReadInventories(ctx context.Context, s Store, target string) (*Inventories, error) {
	in := &Inventories{store: s, target: target}
	if ix, ok := s.(indexer); ok {
		tenants, holders, err := ix.holders(target)
		if err != nil {
			return nil, err
		}
		in.Tenants, in.Holders = tenants, holders
		return in, nil
	}
	entries, err := s.List(ctx, target)
	if err != nil {
		return nil, err //nolint:wrapcheck // the store's error names the store
	}
	in.entries = make(map[string]Entry, len(entries))
	in.Holders = map[string][]string{}
	for _, e := range entries {
		in.entries[e.Tenant] = e
		in.Tenants = append(in.Tenants, e.Tenant)
		for id := range e.Resources {
			in.Holders[id] = append(in.Holders[id], e.Tenant)
		}
	}
	return in, nil
}

// Entry returns the tenant's entry, with a Resources map of its own to
// modify (an empty one when the tenant has none).
func (in *Inventories) Entry(ctx context.Context, tenant string) (Entry, error) {
	if in.entries == nil {
		e, err := in.store.Load(ctx, tenant, in.target)
		if err != nil {
			return Entry{}, fmt.Errorf("inventory: %w", err)
		}
		return e, nil
	}
	e, ok := in.entries[tenant]
	if !ok {
		e = Entry{Tenant: tenant, Target: in.target}
	}
	return e.Clone(), nil
}

// Other returns a tenant other than tenant whose inventory holds id, if
// any (the last in name order).
func (in *Inventories) Other(id, tenant string) (string, bool) {
	hs := in.Holders[id]
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i] != tenant {
			return hs[i], true
		}
	}
	return "", false
}

// holderIndex is who holds what, by target then tenant: the resource IDs
// of every entry, and what holders built of them since the target's last
// save. Only the process that alone writes the store may keep it (a
// bbolt file's holder).
type holderIndex struct {
	ids   map[string]map[string][]string
	built map[string]builtHolders
}

type builtHolders struct {
	tenants []string
	holders map[string][]string
}

func newHolderIndex() *holderIndex {
	return &holderIndex{ids: map[string]map[string][]string{}, built: map[string]builtHolders{}}
}

// set records the IDs of e.
func (ix *holderIndex) set(e Entry) {
	delete(ix.built, e.Target)
	byTenant := ix.ids[e.Target]
	if byTenant == nil {
		byTenant = map[string][]string{}
		ix.ids[e.Target] = byTenant
	}
	ids := make([]string, 0, len(e.Resources))
	for id := range e.Resources {
		ids = append(ids, id)
	}
	byTenant[e.Tenant] = ids
}

// holders is what Inventories needs of target, built again only after a
// save to target: a sync plans and applies each target more than once.
func (ix *holderIndex) holders(target string) ([]string, map[string][]string) {
	if b, ok := ix.built[target]; ok {
		return b.tenants, b.holders
	}
	byTenant := ix.ids[target]
	tenants := make([]string, 0, len(byTenant))
	for tn := range byTenant {
		tenants = append(tenants, tn)
	}
	slices.Sort(tenants)
	holders := map[string][]string{}
	for _, tn := range tenants {
		for _, id := range byTenant[tn] {
			holders[id] = append(holders[id], tn)
		}
	}
	ix.built[target] = builtHolders{tenants: tenants, holders: holders}
	return tenants, holders
}
