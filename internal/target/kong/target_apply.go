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
// key-auth credentials that go are deleted first, then
// go-database-reconciler's syncer creates and updates top-down and
// deletes bottom-up, then new consumers get their generated keys.
//
// Every change gets a result with its own error. When some fail, the
// error is an *ApplyError and the others were still made; a tenant whose
// syncer stopped at a failure has the changes it did not reach failed
// with ErrNotAttempted. Blocked changes have results with ErrBlocked and
// are not failures.
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
	// What was made must be remembered even when ctx ended mid-apply.
	saveCtx := context.WithoutCancel(ctx)
	saveErrs := make([]error, len(gp.tenants))
	var g errgroup.Group
	g.SetLimit(t.concurrency)
	order := make([]int, len(gp.tenants))
	for i := range order {
		order[i] = i
	}
	// Tenants whose turn has come take the slots first (plan.ReadyFirst).
	for _, i := range plan.ReadyFirst(opts, order, func(i int) string { return gp.tenants[i].tenant }) {
		tp := gp.tenants[i]
		g.Go(func() error {
			defer opts.Done(tp.tenant)
			if err := opts.Wait(ctx, tp.tenant); err != nil {
				for _, it := range tp.items {
					if it.change.Action != plan.Blocked {
						it.err = fmt.Errorf("kong %s %s: %w", it.change.Kind, it.change.Name, err)
					}
				}
			} else {
				t.applyTenant(ctx, s, tp, opts.DryRun, gp.deletesBlocked)
			}
			if !opts.DryRun {
				if err := t.save(saveCtx, s, tp, req.Revision); err != nil {
					saveErrs[i] = fmt.Errorf("kong gateway %s: tenant %s: save state: %w", t.name, tp.tenant, err)
				}
			}
			tp.target, tp.names = nil, nil // saved: let it go
			return nil
		})
	}
	_ = g.Wait() // errors are per change
	t.memo.record(gp, s.transport.schemaSums(), req.Complete, false)

	var results []plan.Result
	applyErr := &ApplyError{Target: "kong gateway " + t.name}
	for _, tp := range gp.tenants {
		for _, it := range tp.items {
			r := plan.Result{Change: it.change}
			switch {
			case it.change.Action == plan.Blocked:
				r.Err = fmt.Errorf("kong %s %s: %w", it.change.Kind, it.change.Name, ErrBlocked)
			case it.err != nil:
				r.Err = it.err
			}
			if r.Err != nil {
				r.Error = r.Err.Error()
			}
			results = append(results, r)
			if it.change.Action != plan.Blocked {
				applyErr.Total++
				if r.Err != nil {
					applyErr.Failed = append(applyErr.Failed, r)
				}
			}
		}
	}
	slices.SortStableFunc(results, func(a, b plan.Result) int { return plan.Compare(a.Change, b.Change) })
	errs := append([]error{planErr}, saveErrs...)
	if len(applyErr.Failed) > 0 {
		errs = append([]error{applyErr}, errs...)
	}
	return results, errors.Join(errs...)
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
		case it.change.Action == plan.Create:
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
			it.err = fmt.Errorf("kong credential %s: create: consumer %s was not created", it.change.Name, it.cred.consumer)
		case dry:
			it.done = true
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
	for _, a := range run.actions {
		kind, name, ok := run.names.identify(entityOf(a))
		if !ok {
			continue
		}
		it := byID[entityID(kind, name)]
		if it == nil {
			continue
		}
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
	it.done = true
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
			if c.KeyAuth {
				docs[entityID(KindCredential, c.Username+"/key-auth")] = map[string]any{"consumer": c.Username}
			}
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
