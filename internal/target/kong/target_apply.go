package kong

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	kstate "github.com/kong/go-database-reconciler/pkg/state"
	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/plan"
)

// Apply plans req afresh and makes the changes, tenant by tenant with at
// most the target's concurrency of writes in flight on the gateway, each
// tenant once its turn on the gate in opts has come (see plan.Gate):
// the inventory is written ahead with a placeholder for every entity to
// create (writeAhead), key-auth credentials that go are deleted first,
// then go-database-reconciler's syncer creates and updates top-down and
// deletes bottom-up, then new consumers get their generated keys.
//
// With req.Checked, a tenant whose fresh plan differs from the checked
// one (plan.Request.Stale) is not synced at all: each of its changes
// fails with an error wrapping plan.ErrStale, and its state is unchanged.
//
// Every change gets a result with its own error (plan.Finish). When some
// fail, the error is an *ApplyError and the others were still made; a
// tenant whose syncer stopped at a failure has the changes it did not
// reach failed with ErrNotAttempted. Blocked changes have results with
// plan.ErrBlocked and are not failures. Tenants that could not be
// planned, or whose inventory could not be saved, are in a
// *plan.PartialError joined with it.
//
// With opts.DryRun the syncer runs in dry-run mode on the same code path:
// nothing is sent to the gateway but reads, no key is generated and no
// state is saved.
func (t *Target) Apply(ctx context.Context, req plan.Request, opts plan.ApplyOptions) ([]plan.Result, error) {
	s, err := t.connect(ctx)
	if err != nil {
		return nil, err
	}
	gp, planErr := t.plan(ctx, s, req, !opts.DryRun)
	if gp == nil {
		return nil, planErr
	}
	// Apply what was checked: a tenant whose fresh plan differs from the
	// checked one is not synced at all, and its state is left alone.
	stale := req.StaleChecker(plan.Kong, t.name)
	for _, tp := range gp.tenants {
		changes := make([]*plan.Change, len(tp.items))
		for i, it := range tp.items {
			changes[i] = &it.change
		}
		if err := stale.Adopt(tp.tenant, changes); err != nil {
			tp.stale = true
			for _, it := range tp.items {
				if it.change.Action != plan.Blocked {
					it.err = fmt.Errorf("kong %s %s: %w", it.change.Kind, it.change.Name, err)
				}
			}
		}
	}
	// What was made must be remembered even when ctx ended mid-apply.
	saveCtx := context.WithoutCancel(ctx)
	saveErrs := make([]error, len(gp.tenants))
	var g errgroup.Group
	g.SetLimit(t.concurrency)
	order := make([]int, 0, len(gp.tenants))
	for i, tp := range gp.tenants {
		if tp.stale {
			opts.Done(tp.tenant)
			continue
		}
		order = append(order, i)
	}
	// Tenants whose turn has come take the slots first (plan.ReadyFirst).
	for _, i := range plan.ReadyFirst(opts, order, func(i int) string { return gp.tenants[i].tenant }) {
		tp := gp.tenants[i]
		g.Go(func() error {
			defer opts.Done(tp.tenant)
			if err := opts.Wait(ctx, tp.tenant); err != nil {
				for _, it := range tp.items {
					it.err = plan.GateFailed(it.change, err)
				}
			} else if err := t.writeAhead(saveCtx, tp, req.Revision, opts.DryRun); err != nil {
				saveErrs[i] = err
				for _, it := range tp.items {
					if it.change.Action != plan.Blocked {
						it.err = fmt.Errorf("kong %s %s: %s: not attempted: %w", it.change.Kind, it.change.Name, it.change.Action, err)
					}
				}
			} else {
				t.applyTenant(ctx, s, tp, opts.DryRun, gp.deletesBlocked)
			}
			if !opts.DryRun && saveErrs[i] == nil {
				if err := t.save(saveCtx, s, tp, req.Revision); err != nil {
					saveErrs[i] = fmt.Errorf("save state: %w", err)
				}
			}
			tp.target, tp.names = nil, nil // saved: let it go
			return nil
		})
	}
	_ = g.Wait() // errors are per change
	t.memo.record(gp, s.transport.schemaSums(), req.Complete, false)

	var results []plan.Result
	for _, tp := range gp.tenants {
		for _, it := range tp.items {
			results = append(results, plan.Result{Change: it.change, Err: it.err})
		}
	}
	slices.SortStableFunc(results, func(a, b plan.Result) int { return plan.Compare(a.Change, b.Change) })
	results, applyErr := plan.Finish("kong gateway "+t.name, results)
	// Per-tenant failures make one *plan.PartialError: those tenants only
	// are marked failed.
	partial := &plan.PartialError{Target: "kong gateway " + t.name}
	var other error
	var pe *plan.PartialError
	switch {
	case errors.As(planErr, &pe):
		partial.Tenants = append(partial.Tenants, pe.Tenants...)
	case planErr != nil:
		other = planErr
	}
	for i, err := range saveErrs {
		partial.Add(gp.tenants[i].tenant, err)
	}
	return results, errors.Join(applyErr, partial.Err(), other)
}

// applyTenant makes one tenant's changes and records each one's outcome
// on its item.
func (t *Target) applyTenant(ctx context.Context, s *session, tp *tenantPlan, dry, deletesBlocked bool) {
	var synced, keyCreates, keyDeletes []*item
	for _, it := range tp.items {
		switch {
		case it.change.Action == plan.Blocked:
		case it.cred == nil:
			synced = append(synced, it)
		case it.change.Action == plan.Create || it.change.Action == plan.Update || it.change.Action == plan.Adopt:
			keyCreates = append(keyCreates, it)
		default:
			keyDeletes = append(keyDeletes, it)
		}
	}
	// Credentials sit below their consumer: they go first.
	for _, it := range keyDeletes {
		if !dry {
			if err := deleteKey(ctx, s, it.cred.consumer, it.cred.id); err != nil {
				it.err = fmt.Errorf("kong credential %s: %w", it.change.Name, err)
				continue
			}
		}
		it.done = true
	}
	if len(synced) > 0 {
		t.sync(ctx, s, tp, synced, dry, deletesBlocked)
	}
	failed := map[string]bool{}
	for _, it := range synced {
		if it.change.Kind == KindConsumer && it.err != nil {
			failed[it.change.Name] = true
		}
	}
	for _, it := range keyCreates {
		switch {
		case failed[it.cred.consumer]:
			it.err = fmt.Errorf("kong credential %s: %s: the change of consumer %s failed", it.change.Name, it.change.Action, it.cred.consumer)
		case dry:
			it.done = true
		case it.change.Action == plan.Adopt:
			t.adoptCredential(ctx, s, tp.tenant, str(tp.adoptKeys[it.cred.consumer].cred.Key), it)
		case it.change.Action == plan.Update:
			t.replaceCredential(ctx, s, tp.tenant, it)
		default:
			t.createCredential(ctx, s, tp.tenant, it)
		}
	}
}

// sync runs go-database-reconciler's syncer for the tenant and pairs its
// per-entity outcomes with the planned changes.
func (t *Target) sync(ctx context.Context, s *session, tp *tenantPlan, items []*item, dry, noDeletes bool) {
	run, err := t.solve(ctx, s, tp, dry, noDeletes)
	if err != nil {
		for _, it := range items {
			it.err = fmt.Errorf("kong %s %s: %s: %w", it.change.Kind, it.change.Name, it.change.Action, err)
		}
		return
	}
	if tp.target == nil {
		// Items the memo had: this run built the desired state.
		tp.target, tp.names = run.target, run.names
	}
	byID := make(map[string]*item, len(items))
	for _, it := range items {
		byID[entityID(it.change.Kind, it.change.Name)] = it
	}
	acted := map[*item]bool{}
	for _, a := range run.actions {
		kind, name, ok := run.names.identify(entityOf(a))
		if !ok {
			continue
		}
		it := byID[entityID(kind, name)]
		if it == nil {
			continue
		}
		acted[it] = true
		if a.Error != nil {
			it.err = itemError(it.change, a.Error)
			continue
		}
		it.done = true
	}
	var cause error
	if len(run.errs) > 0 {
		cause = run.errs[0]
	}
	for _, it := range items {
		if it.done || it.err != nil {
			continue
		}
		if it.change.Action == plan.Adopt && len(it.change.Fields) == 0 && !acted[it] && !tagsDiffer(tp, it) {
			// Adopted as it is: it matched Git, tags included, so the
			// syncer had nothing to write; recording it adopts it. A
			// target whose tags alone differ gets them here.
			if rt, ok := tp.retag[entityID(it.change.Kind, it.change.Name)]; ok && !dry {
				retag(ctx, s, tp.tenant, rt, it)
				continue
			}
			it.done = true
			continue
		}
		it.err = fmt.Errorf("kong %s %s: %w", it.change.Kind, it.change.Name, ErrNotAttempted)
		if cause != nil {
			it.err = fmt.Errorf("%w (%w)", it.err, cause)
		}
	}
}

// createCredential generates a consumer's key, delivers it, then creates
// the credential. Delivering first means a failed create leaves the sink
// with a key Kong does not know, replaced by the next apply; the other
// order could leave a working key nobody has.
func (t *Target) createCredential(ctx context.Context, s *session, tenant string, it *item) {
	key := newKey()
	if err := t.deliver(ctx, tenant, it.cred.consumer, key); err != nil {
		it.err = fmt.Errorf("kong credential %s: %w", it.change.Name, err)
		return
	}
	if _, err := createKey(ctx, s, tenant, it.cred.consumer, key); err != nil {
		it.err = fmt.Errorf("kong credential %s: %w", it.change.Name, err)
		return
	}
	it.cred.sum = keySum(key)
	it.done = true
}

// replaceCredential replaces credentials whose key was changed outside
// k3sync: it deletes them, so that the changed key stops working, then
// creates a new credential whose key it delivers (createCredential).
func (t *Target) replaceCredential(ctx context.Context, s *session, tenant string, it *item) {
	for _, id := range it.cred.ids {
		if err := deleteKey(ctx, s, it.cred.consumer, id); err != nil {
			it.err = fmt.Errorf("kong credential %s: update: %w", it.change.Name, err)
			return
		}
	}
	t.createCredential(ctx, s, tenant, it)
}

// save records what k3sync last applied to the tenant: the desired
// document of every entity that now matches Git, the previous record of
// those whose change failed. Nothing is written when nothing changed.
// A tenant the memo skipped in an apply was remembered with a record
// found up to date then, and the memo's fingerprint covers the record:
// nothing changed.
func (t *Target) save(ctx context.Context, s *session, tp *tenantPlan, revision string) error {
	if tp.memoized {
		return nil
	}
	if tp.target == nil {
		// Items the memo had, and no syncer run built the desired
		// state: build it as a diff would.
		run, err := t.solve(ctx, s, tp, true, false)
		if err != nil {
			return err
		}
		tp.target, tp.names = run.target, run.names
	}
	records, err := t.records(ctx, s, tp)
	if err != nil {
		return err
	}
	if sameRecords(records, tp.entry.Resources) {
		tp.current = true
		return nil
	}
	e := tp.entry.Clone()
	e.Resources = records
	e.Revision = revision
	e.UpdatedAt = t.now()
	if err := t.store.Save(ctx, e); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// sameRecords reports whether two records of a tenant are equal.
func sameRecords(a, b map[string]json.RawMessage) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

// records is the tenant's record as save writes it, given the outcome of
// the tenant's items.
func (t *Target) records(ctx context.Context, s *session, tp *tenantPlan) (map[string]json.RawMessage, error) {
	outcome := map[string]*item{}
	for _, it := range tp.items {
		outcome[entityID(it.change.Kind, it.change.Name)] = it
	}
	docs, err := desiredDocuments(ctx, s, tp.target, tp.names)
	if err != nil {
		return nil, err
	}
	if tp.desired != nil {
		for _, c := range tp.desired.Consumers {
			if !c.KeyAuth {
				continue
			}
			id := entityID(KindCredential, c.Username+"/key-auth")
			doc := map[string]any{"consumer": c.Username}
			// The digest of the key k3sync created, never the key: the
			// new one when this apply created it, else the recorded one.
			sum := recordedKeySum(tp.entry, id)
			if it := outcome[id]; it != nil && it.done && it.cred != nil && it.cred.sum != "" {
				sum = it.cred.sum
			}
			if sum != "" {
				doc[keySumField] = sum
			}
			docs[id] = doc
		}
	}
	records := map[string]json.RawMessage{}
	for id, doc := range docs {
		if it, changed := outcome[id]; changed && !it.done {
			if old, ok := tp.entry.Resources[id]; ok {
				records[id] = old
			}
			continue
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		records[id] = b
	}
	// Deletes that did not happen keep their record.
	for id, it := range outcome {
		if _, desired := docs[id]; desired || it.done {
			continue
		}
		if old, ok := tp.entry.Resources[id]; ok {
			records[id] = old
		}
	}
	return records, nil
}

// desiredDocuments are the documents of every entity of a desired state,
// by entity ID. Plugin configs get their schema's defaults, as the syncer
// fills them before comparing.
func desiredDocuments(ctx context.Context, s *session, target *kstate.KongState, names *namer) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	if target == nil {
		return out, nil
	}
	objs, err := allEntities(target)
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	for i, obj := range objs {
		e, ok := obj.(*kstate.Plugin)
		if !ok {
			continue
		}
		p := &kstate.Plugin{Plugin: *e.DeepCopy()}
		schema, err := s.client.Plugins.GetFullSchema(ctx, p.Name)
		if err != nil {
			return nil, fmt.Errorf("plugin %s schema: %w", str(p.Name), err)
		}
		if err := gokong.FillPluginsDefaultsWithPartials(&p.Plugin, schema, nil); err != nil {
			return nil, fmt.Errorf("plugin %s defaults: %w", str(p.Name), err)
		}
		objs[i] = p
	}
	for _, obj := range objs {
		kind, name, _ := names.identify(obj)
		doc, err := names.document(obj)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", kind, name, err)
		}
		out[entityID(kind, name)] = doc
	}
	return out, nil
}
