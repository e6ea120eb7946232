package kong

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/kong/go-database-reconciler/pkg/diff"
	"github.com/kong/go-database-reconciler/pkg/dump"
	"github.com/kong/go-database-reconciler/pkg/file"
	kstate "github.com/kong/go-database-reconciler/pkg/state"
	"github.com/kong/go-database-reconciler/pkg/utils"
	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// gatewayPlan is the plan of every tenant in scope on the gateway.
type gatewayPlan struct {
	tenants []*tenantPlan
	// deletesBlocked: the plan has more deletes than the platform allows.
	deletesBlocked bool
	// failed are the tenants that could not be planned; gen is the memo
	// generation the plan used.
	failed []string
	gen    uint64
}

// tenantPlan is one tenant's plan on the gateway.
type tenantPlan struct {
	tenant string
	// desired is nil when the tenant wants nothing on this gateway.
	desired *render.KongResources
	live    *tenantLive
	entry   state.Entry
	items   []*item
	// unowned are the IDs of the entities carrying the tenant's tags that
	// its inventory does not list: claim took them out of live.
	unowned map[string]bool
	// blocked are the changes of desired entities that exist and that the
	// tenant does not own (blockNotOwned); desired no longer has them.
	blocked []*item
	// adopts: the tenant adopts what exists (policies.adopt). adopted
	// are the IDs of the entities it adopts, which blockNotOwned added to
	// live, with what was found; adoptKeys the key-auth credential it
	// adopts with a consumer, by username.
	adopts    bool
	adopted   map[string]string
	adoptKeys map[string]adoptedKey
	// retag are the adopted targets whose tags the apply sets itself
	// (retagTarget), by entity ID: live has them with k3sync's tags
	// already, so that the syncer, which replaces a target to update
	// it, leaves them alone.
	retag map[string]retagTarget
	// stale: the apply found the tenant's fresh plan different from the
	// checked one (plan.Request.Stale) and leaves it alone.
	stale bool
	// target is the desired state as go-database-reconciler built it, and
	// names names its entities; the state's records come from them.
	target *kstate.KongState
	names  *namer
	// fingerprint is the digest of the inputs of the tenant's diff.
	// memoized: the memo says they have nothing to do, and no diff ran.
	// settled: the diff found nothing to do. current: save found the
	// state store's record up to date. reused: the items are those the
	// memo remembered from a plan's diff of the same inputs; target and
	// names are then filled by the syncer run that makes them (or by
	// save). diffed is a copy of the items a diff found, for the memo.
	fingerprint                        fingerprint
	memoized, settled, current, reused bool
	diffed                             []*item
}

// item is one planned change and what applying it did.
type item struct {
	change plan.Change
	// cred is set for key-auth credentials, which k3sync manages itself.
	cred *credential
	done bool
	err  error
}

// credential is a key-auth credential of a consumer. Its key is generated
// at apply time and never kept.
type credential struct {
	consumer string
	// id is the live credential's, for deletes; ids are those an update
	// replaces (their key was changed outside k3sync).
	id  string
	ids []string
	// sum is the digest of the key the apply created (keySum).
	sum string
}

// Plan reads the gateway once and returns the changes that would make it
// match the request, sorted in apply order. When some tenants cannot be
// planned the error is a *PlanError and the other tenants' changes are
// returned.
func (t *Target) Plan(ctx context.Context, req plan.Request) ([]plan.Change, error) {
	s, err := t.connect(ctx)
	if err != nil {
		return nil, err
	}
	gp, err := t.plan(ctx, s, req, false)
	if gp == nil {
		return nil, err
	}
	t.memo.record(gp, s.transport.schemaSums(), req.Complete, true)
	var out []plan.Change
	for _, tp := range gp.tenants {
		for _, it := range tp.items {
			out = append(out, it.change)
		}
	}
	plan.Sort(out)
	return out, err
}

// plan reads the gateway and plans every tenant in scope. A tenant the
// memo remembers with the same inputs is not diffed; for an apply that
// saves state (current), only when its record was found up to date too.
func (t *Target) plan(ctx context.Context, s *session, req plan.Request, current bool) (*gatewayPlan, error) {
	// inv: every tenant's inventory on the gateway; an adoption never
	// takes what another tenant's holds.
	inv, err := state.ReadInventories(ctx, t.store, t.stateID)
	if err != nil {
		return nil, fmt.Errorf("kong gateway %s: state: %w", t.name, err)
	}
	// The tenants the request covers (plan.Request.Scope), with something
	// desired here or in the inventory here.
	byTenant := map[string]*tenantPlan{}
	for _, sc := range req.Scope(inv.Tenants) {
		tp := &tenantPlan{tenant: sc.Name, live: &tenantLive{}}
		if tr := sc.Request; tr != nil && tr.Desired != nil {
			if k := tr.Desired.Kong; k != nil && k.Gateway == t.name {
				tp.desired = k
			}
			tp.adopts = !tr.Removed && tr.Model != nil && tr.Model.Policies.Adopt
		}
		if tp.entry, err = inv.Entry(ctx, sc.Name); err != nil {
			return nil, fmt.Errorf("kong gateway %s: state: %w", t.name, err)
		}
		if tp.desired == nil && len(tp.entry.Resources) == 0 {
			continue
		}
		byTenant[sc.Name] = tp
	}
	inScope := func(tenant string) bool { return byTenant[tenant] != nil }
	only := ""
	if !req.Complete && len(byTenant) == 1 {
		for tn := range byTenant {
			only = tn
		}
	}
	l, err := t.readLive(ctx, s, only, inScope)
	if err != nil {
		return nil, err
	}
	for tn, tl := range l.tenants {
		if tp := byTenant[tn]; tp != nil {
			tp.live = tl
		}
	}
	gp := &gatewayPlan{}
	for _, tp := range byTenant {
		// Ownership is the inventory: tags only select what is read.
		claim(tp)
		gp.tenants = append(gp.tenants, tp)
	}
	slices.SortFunc(gp.tenants, func(a, b *tenantPlan) int { return strings.Compare(a.tenant, b.tenant) })

	if err := t.blockNotOwned(ctx, s, gp.tenants, inv.Holders); err != nil {
		return nil, err
	}
	gp.gen = t.memo.check(ctx, s, t.concurrency)
	errs := make([]error, len(gp.tenants))
	need := make([]bool, len(gp.tenants))
	var recall errgroup.Group
	recall.SetLimit(runtime.GOMAXPROCS(0))
	for i, tp := range gp.tenants {
		recall.Go(func() error {
			need[i], errs[i] = t.recallTenant(s, tp, gp.gen, current)
			return nil
		})
	}
	_ = recall.Wait() // errors are per tenant
	if !current {
		// A plan diffs the tenants that have something on the gateway in
		// batches when it can (diffBatch); an apply, which needs each
		// tenant's desired state for its records, diffs them apart.
		// Before the batches, the quick check concludes the tenants it can
		// prove have nothing to do (quickClean). Each step is given the
		// tenants still to diff that have something on the gateway, and
		// concludes those it finds clean.
		for _, step := range []func(context.Context, *session, []*tenantPlan) []bool{t.quickClean, t.diffBatch} {
			var idx []int // in gp.tenants of the tenants given to step
			var batch []*tenantPlan
			for i, tp := range gp.tenants {
				if need[i] && errs[i] == nil && !tp.live.empty() {
					idx, batch = append(idx, i), append(batch, tp)
				}
			}
			for j, clean := range step(ctx, s, batch) {
				if clean {
					need[idx[j]] = false
					finishTenant(batch[j], current)
				}
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, tp := range gp.tenants {
		if !need[i] || errs[i] != nil {
			continue
		}
		g.Go(func() error {
			if errs[i] = t.diffTenant(gctx, s, tp); errs[i] == nil {
				finishTenant(tp, current)
			}
			return nil
		})
	}
	_ = g.Wait() // errors are per tenant
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kong gateway %s: plan: %w", t.name, err)
	}
	perr := &plan.PartialError{Target: "kong gateway " + t.name}
	kept := gp.tenants[:0]
	for i, tp := range gp.tenants {
		if errs[i] != nil {
			perr.Add(tp.tenant, errs[i])
			gp.failed = append(gp.failed, tp.tenant)
			continue
		}
		// Blocked changes are not the diff's: the memo never holds them.
		tp.items = append(tp.items, cloneItems(tp.blocked)...)
		kept = append(kept, tp)
	}
	gp.tenants = kept
	var changes []*plan.Change
	for _, tp := range gp.tenants {
		for _, it := range tp.items {
			changes = append(changes, &it.change)
		}
	}
	gp.deletesBlocked = req.CapDeletes("gateway "+t.name, changes)
	return gp, perr.Err()
}

// recallTenant computes the fingerprint of one tenant's diff and reports
// whether the tenant must be diffed (diffTenant, then finishTenant) with
// go-database-reconciler's syncer in dry run mode: not when the memo of
// generation gen says that the same inputs had nothing to do (and, with
// current, that the tenant's record was up to date), or remembers the
// changes they had.
func (t *Target) recallTenant(s *session, tp *tenantPlan, gen uint64, current bool) (bool, error) {
	fp, err := fingerprintOf(s, tp)
	if err != nil {
		return false, err
	}
	tp.fingerprint = fp
	if current {
		// An apply takes the changes of the plan before it: nothing
		// else will.
		if items := t.memo.takePending(gen, tp.tenant, fp); items != nil {
			tp.items, tp.reused = items, true
			return false, nil
		}
	}
	if e, ok := t.memo.lookup(gen, tp.tenant, fp); ok {
		switch {
		case e.pending != nil:
			tp.items, tp.reused = cloneItems(e.pending), true
			return false, nil
		case e.current || !current:
			tp.memoized = true
			return false, nil
		}
	}
	return true, nil
}

// finishTenant records what a tenant's diff found.
func finishTenant(tp *tenantPlan, current bool) {
	if !current {
		// Only an apply's save reads the desired state again: a plan of
		// a thousand tenants would otherwise hold a thousand of them.
		tp.target, tp.names = nil, nil
	}
	tp.settled = len(tp.items) == 0
	if !tp.settled {
		tp.diffed = cloneItems(tp.items)
	}
}

// cloneItems copies planned items for another plan or apply to change.
func cloneItems(items []*item) []*item {
	out := make([]*item, len(items))
	for i, it := range items {
		c := *it
		c.change.Fields = slices.Clone(it.change.Fields)
		c.change.Notes = slices.Clone(it.change.Notes)
		if it.cred != nil {
			cred := *it.cred
			c.cred = &cred
		}
		out[i] = &c
	}
	return out
}

// diffTenant runs the diff of planTenant. A tenant with nothing on the
// gateway gets every entity of its desired state created, which is what
// the syncer would find: its diff, the costliest part of a plan, is
// skipped.
func (t *Target) diffTenant(ctx context.Context, s *session, tp *tenantPlan) error {
	if tp.live.empty() && !alwaysSync {
		return t.planCreates(ctx, s, tp)
	}
	run, err := t.solve(ctx, s, tp, true, false)
	if err != nil {
		return err
	}
	if len(run.errs) > 0 {
		return fmt.Errorf("diff: %w", errors.Join(run.errs...))
	}
	tp.target, tp.names = run.target, run.names
	return t.planActions(tp, run.actions, run.names)
}

// planActions turns the syncer's actions on a tenant's entities into
// its planned changes, adds the adopted entities that match Git and plans
// its key-auth credentials.
func (t *Target) planActions(tp *tenantPlan, actions []diff.EntityAction, names *namer) error {
	seen := map[string]bool{}
	for _, a := range actions {
		kind, name, ok := names.identify(entityOf(a))
		if !ok {
			return fmt.Errorf("diff: unexpected %s entity %s", a.Entity.Kind, a.Entity.Name)
		}
		if a.Error != nil {
			return fmt.Errorf("kong %s %s: diff: %w", kind, name, a.Error)
		}
		id := entityID(kind, name)
		seen[id] = true
		c := plan.Change{Key: t.key(tp.tenant, kind, name), Level: levels[kind]}
		found, adopting := tp.adopted[id]
		switch a.Action {
		case diff.CreateAction:
			c = t.createChange(tp, kind, name)
		case diff.UpdateAction:
			c.Action = plan.Update
			before, err := names.document(a.Entity.Old)
			if err != nil {
				return fmt.Errorf("kong %s %s: live: %w", kind, name, err)
			}
			after, err := names.document(a.Entity.New)
			if err != nil {
				return fmt.Errorf("kong %s %s: desired: %w", kind, name, err)
			}
			var last map[string]any
			if raw, ok := tp.entry.Resources[id]; ok && !isPlaceholder(raw) {
				var doc map[string]any
				if json.Unmarshal(raw, &doc) == nil {
					last = flatten(doc)
				}
			}
			if adopting {
				// The update of an adopted entity sets k3sync's tags and
				// the fields that differ from Git: those are listed.
				c = plan.Adopted(c.Key, c.Level, found, adoptFields(fieldChanges(before, after, nil)))
				if kind == KindTarget {
					c.Notes = append(c.Notes, targetAdoptNote)
				}
				break
			}
			c.Fields = fieldChanges(before, after, last)
			c.Drift = slices.ContainsFunc(c.Fields, func(f plan.FieldChange) bool { return f.Drift })
			if last == nil {
				c.Notes = append(c.Notes, "k3sync has no record of what it last applied: differences are shown as changes in Git")
			}
		case diff.DeleteAction:
			c.Action = plan.Delete
			c.Notes = append(c.Notes, deleteNotes[kind]...)
		}
		tp.items = append(tp.items, &item{change: c})
	}
	// An adopted entity that already matches Git, tags included, is
	// still adopted: recorded, with no field to write.
	for _, id := range sortedKeys(tp.adopted) {
		if seen[id] {
			continue
		}
		kind, name, _ := strings.Cut(id, "/")
		tp.items = append(tp.items, &item{change: plan.Adopted(t.key(tp.tenant, kind, name), levels[kind], tp.adopted[id], nil)})
	}
	t.planCredentials(tp)
	return nil
}

// targetAdoptNote is the note of an adopted target whose fields differ:
// go-database-reconciler updates a target by deleting it and creating it
// again (one whose tags alone differ is patched, see adoptChild).
const targetAdoptNote = "the apply replaces the target (delete, then create with Git's fields and k3sync's tags, " +
	"a new ID), as decK updates targets: the upstream lacks it for that moment"

// createChange is the change that creates an entity of the tenant: drift
// when k3sync applied it before.
func (t *Target) createChange(tp *tenantPlan, kind, name string) plan.Change {
	c := plan.Change{Key: t.key(tp.tenant, kind, name), Level: levels[kind], Action: plan.Create}
	if applied(tp.entry, entityID(kind, name)) {
		c.Drift = true
		c.Notes = append(c.Notes, "deleted out of band: k3sync applied it before")
	}
	return c
}

// alwaysSync makes every plan run the syncer's diff, for tests that
// compare its answer with planCreates'.
var alwaysSync = false

// planCreates plans a tenant that has nothing on the gateway: every
// entity of its desired state, as file.Get builds it, is created.
func (t *Target) planCreates(ctx context.Context, s *session, tp *tenantPlan) error {
	t.diffs.Add(1)
	target, names, err := t.desiredState(ctx, s, tp, nil)
	if err != nil {
		return err
	}
	tp.target, tp.names = target, names
	entities, err := allEntities(target)
	if err != nil {
		return fmt.Errorf("desired state: %w", err)
	}
	for _, e := range entities {
		kind, name, ok := names.identify(e)
		if !ok {
			return fmt.Errorf("diff: unexpected desired entity %T", e)
		}
		if p, ok := e.(*kstate.Plugin); ok {
			// The syncer fills a plugin's defaults from its schema: a
			// plugin the gateway does not know fails here as there.
			if _, err := s.client.Plugins.GetFullSchema(ctx, p.Name); err != nil {
				return fmt.Errorf("kong %s %s: diff: plugin schema: %w", kind, name, err)
			}
		}
		tp.items = append(tp.items, &item{change: t.createChange(tp, kind, name)})
	}
	t.planCredentials(tp)
	return nil
}

// allEntities lists every entity of a state of the kinds k3sync manages:
// services, routes, consumers, ACL groups, upstreams, targets, plugins.
func allEntities(st *kstate.KongState) ([]any, error) {
	var out []any
	for _, get := range []func() ([]any, error){
		func() ([]any, error) { return anys(st.Services.GetAll()) },
		func() ([]any, error) { return anys(st.Routes.GetAll()) },
		func() ([]any, error) { return anys(st.Consumers.GetAll()) },
		func() ([]any, error) { return anys(st.ACLGroups.GetAll()) },
		func() ([]any, error) { return anys(st.Upstreams.GetAll()) },
		func() ([]any, error) { return anys(st.Targets.GetAll()) },
		func() ([]any, error) { return anys(st.Plugins.GetAll()) },
	} {
		es, err := get()
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

func anys[E any](es []E, err error) ([]any, error) {
	out := make([]any, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out, err //nolint:wrapcheck // wrapped by the caller
}

// entityOf is the entity of an action: the desired one, or for deletes
// the live one (the syncer reports both as New).
func entityOf(a diff.EntityAction) any {
	if a.Entity.New != nil {
		return a.Entity.New
	}
	return a.Entity.Old
}

// deleteNotes are the consequences of deletes, annotated on the change.
var deleteNotes = map[string][]string{
	KindConsumer: {"Kong deletes the consumer's credentials and plugins with it"},
	KindUpstream: {"Kong deletes the upstream's targets with it"},
}

func (t *Target) key(tenant, kind, name string) plan.Key {
	return plan.Key{Tenant: tenant, System: plan.Kong, Target: t.name, Kind: kind, Name: name}
}

// planCredentials plans the key-auth credentials: one per consumer whose
// definition asks for key-auth, created when the consumer has none that
// k3sync owns; those of consumers that no longer ask for it are deleted.
// An existing credential is never re-keyed, except when its key is not
// the one k3sync created (its digest differs from the recorded one): the
// key was changed outside k3sync, and the credential is replaced, as
// drift, by one with a new key. Rotate re-keys on demand.
func (t *Target) planCredentials(tp *tenantPlan) {
	usernames := map[string]string{}
	for _, c := range tp.live.raw.Consumers {
		usernames[str(c.ID)] = str(c.Username)
	}
	existing := map[string][]*gokong.KeyAuth{}
	for _, k := range tp.live.keyAuths {
		if k.Consumer == nil {
			continue
		}
		if u, ok := usernames[str(k.Consumer.ID)]; ok {
			existing[u] = append(existing[u], k)
		}
	}
	want := map[string]bool{}
	if tp.desired != nil {
		for _, c := range tp.desired.Consumers {
			if !c.KeyAuth {
				continue
			}
			want[c.Username] = true
			name := c.Username + "/key-auth"
			if len(existing[c.Username]) > 0 {
				t.planKeyDrift(tp, c.Username, existing[c.Username])
				continue
			}
			if ak, ok := tp.adoptKeys[c.Username]; ok {
				// An adopted consumer keeps its key.
				tp.items = append(tp.items, t.adoptedKeyChange(tp, c.Username, ak))
				continue
			}
			ch := plan.Change{
				Key: t.key(tp.tenant, KindCredential, name), Action: plan.Create, Level: levels[KindCredential],
				Fields: []plan.FieldChange{{Path: "key", After: "generated", Sensitive: true}},
				Notes:  []string{"k3sync generates the key and delivers it to the tenant's credential sink"},
			}
			if applied(tp.entry, entityID(KindCredential, name)) {
				ch.Drift = true
				ch.Notes = append(ch.Notes, "deleted out of band: k3sync created it before")
			}
			tp.items = append(tp.items, &item{change: ch, cred: &credential{consumer: c.Username}})
		}
	}
	for _, u := range sortedKeys(existing) {
		if want[u] {
			continue
		}
		creds := existing[u]
		for _, k := range creds {
			name := u + "/key-auth"
			if len(creds) > 1 {
				name += "/" + str(k.ID)
			}
			tp.items = append(tp.items, &item{
				change: plan.Change{
					Key: t.key(tp.tenant, KindCredential, name), Action: plan.Delete, Level: levels[KindCredential],
					Notes: []string{"the consumer's key stops working"},
				},
				cred: &credential{consumer: u, id: str(k.ID)},
			})
		}
	}
}

// keyChangedNote is the note of a credential whose key was changed
// outside k3sync.
const keyChangedNote = "the key was changed outside k3sync: applying generates a new key and delivers it"

// planKeyDrift compares the keys of a consumer's credentials with the
// digest of the key k3sync created, when one is recorded. When none has
// that key, the credential is updated: replaced by one with a new key.
// When one has it, the others (keys added outside k3sync with the
// tenant's tags) are deleted. Neither key appears in the change.
func (t *Target) planKeyDrift(tp *tenantPlan, consumer string, creds []*gokong.KeyAuth) {
	name := consumer + "/key-auth"
	sum := recordedKeySum(tp.entry, entityID(KindCredential, name))
	if sum == "" {
		return
	}
	var same bool
	var changed []*gokong.KeyAuth
	for _, k := range creds {
		if keySum(str(k.Key)) == sum {
			same = true
		} else {
			changed = append(changed, k)
		}
	}
	field := []plan.FieldChange{{Path: "key", Before: "changed", After: "generated", Sensitive: true, Drift: true}}
	switch {
	case len(changed) == 0:
	case !same:
		ids := make([]string, len(changed))
		for i, k := range changed {
			ids[i] = str(k.ID)
		}
		tp.items = append(tp.items, &item{
			change: plan.Change{
				Key: t.key(tp.tenant, KindCredential, name), Action: plan.Update, Level: levels[KindCredential],
				Fields: field, Drift: true, Notes: []string{keyChangedNote},
			},
			cred: &credential{consumer: consumer, ids: ids},
		})
	default:
		for _, k := range changed {
			tp.items = append(tp.items, &item{
				change: plan.Change{
					Key: t.key(tp.tenant, KindCredential, name+"/"+str(k.ID)), Action: plan.Delete, Level: levels[KindCredential],
					Fields: []plan.FieldChange{{Path: "key", Before: "changed", Sensitive: true, Drift: true}}, Drift: true,
					Notes: []string{"a key k3sync did not create, on a consumer it owns: deleted; the key k3sync created stays"},
				},
				cred: &credential{consumer: consumer, id: str(k.ID)},
			})
		}
	}
}

// solveRun is the outcome of one go-database-reconciler syncer run.
type solveRun struct {
	actions []diff.EntityAction
	errs    []error
	target  *kstate.KongState
	names   *namer
}

// solve builds the tenant's current state from its slice of the live read
// and its target state from Git with file.Get, as decK does, and runs the
// syncer: a dry run reports the changes, a real one makes them, creates
// and updates top-down then deletes bottom-up, with the target's
// concurrency. noDeletes keeps every delete back.
func (t *Target) solve(ctx context.Context, s *session, tp *tenantPlan, dry, noDeletes bool) (*solveRun, error) {
	t.diffs.Add(1)
	current, err := kstate.Get(cloneRaw(&tp.live.raw))
	if err != nil {
		return nil, fmt.Errorf("live state: %w", err)
	}
	target, names, err := t.desiredState(ctx, s, tp, current)
	if err != nil {
		return nil, err
	}
	run := &solveRun{target: target, names: names}
	if run.actions, run.errs, err = t.runSyncer(ctx, s, current, target, dry, noDeletes); err != nil {
		return nil, err
	}
	return run, nil
}

// runSyncer runs go-database-reconciler's syncer from current to target
// and returns its per-entity actions and its errors: a dry run reports
// the changes, a real one makes them. noDeletes keeps every delete back.
func (t *Target) runSyncer(ctx context.Context, s *session, current, target *kstate.KongState, dry, noDeletes bool) ([]diff.EntityAction, []error, error) {
	quiet := func(...any) {}
	syncer, err := diff.NewSyncer(diff.SyncerOpts{
		CurrentState: current, TargetState: target, KongClient: s.client,
		SilenceWarnings: true, EnableEntityActions: true, NoDeletes: noDeletes,
		CreatePrintln: quiet, UpdatePrintln: quiet, DeletePrintln: quiet,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("syncer: %w", err)
	}
	var actions []diff.EntityAction
	done := make(chan struct{})
	go func() {
		defer close(done)
		for a := range syncer.GetResultChan() {
			actions = append(actions, a)
		}
	}()
	_, errs, _ := syncer.Solve(ctx, t.concurrency, dry, false)
	<-done
	return actions, errs, nil
}

// desiredState builds the tenant's target state from Git with file.Get,
// as decK does, over current (the tenant's live state; nil for none), and
// the names of both states' entities.
func (t *Target) desiredState(ctx context.Context, s *session, tp *tenantPlan, current *kstate.KongState) (*kstate.KongState, *namer, error) {
	c, err := content(tp.desired)
	if err != nil {
		return nil, nil, err
	}
	live := current
	if live == nil {
		if live, err = kstate.NewKongState(); err != nil {
			return nil, nil, fmt.Errorf("live state: %w", err)
		}
	}
	target, err := t.targetState(ctx, s, c, live)
	if err != nil {
		return nil, nil, err
	}
	names, err := newNamer(current, target)
	if err != nil {
		return nil, nil, fmt.Errorf("names: %w", err)
	}
	return target, names, nil
}

// targetState builds the target state of content c from Git with
// file.Get over current, as decK does.
func (t *Target) targetState(ctx context.Context, s *session, c *file.Content, current *kstate.KongState) (*kstate.KongState, error) {
	rc := s.render
	rc.CurrentState = current
	targetRaw, err := file.Get(ctx, c, rc, dump.Config{}, s.client)
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	target, err := kstate.Get(targetRaw)
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	return target, nil
}

// cloneRaw copies a raw state: building a state rewrites references in
// place, and a tenant's slice is built more than once.
func cloneRaw(r *utils.KongRawState) *utils.KongRawState {
	out := &utils.KongRawState{}
	appendRaw(out, r)
	return out
}

// appendRaw appends copies of r's entities to out.
func appendRaw(out, r *utils.KongRawState) {
	for _, e := range r.Services {
		out.Services = append(out.Services, e.DeepCopy())
	}
	for _, e := range r.Routes {
		out.Routes = append(out.Routes, e.DeepCopy())
	}
	for _, e := range r.Plugins {
		out.Plugins = append(out.Plugins, e.DeepCopy())
	}
	for _, e := range r.Consumers {
		out.Consumers = append(out.Consumers, e.DeepCopy())
	}
	for _, e := range r.ACLGroups {
		out.ACLGroups = append(out.ACLGroups, e.DeepCopy())
	}
	for _, e := range r.Upstreams {
		out.Upstreams = append(out.Upstreams, e.DeepCopy())
	}
	for _, e := range r.Targets {
		out.Targets = append(out.Targets, e.DeepCopy())
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
