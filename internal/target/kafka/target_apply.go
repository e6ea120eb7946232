package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
)

// Apply plans req afresh and makes the changes: creates and updates level
// by level (topics, then ACLs, quotas and users), then deletes in reverse.
// Each level sends one request per kind of write for all the tenants of a
// round: with a gate in opts, tenants go in rounds as their turn comes
// (see plan.Gate); without, all at once.
//
// Every change gets a result with its own error. When some fail, the
// error is an *ApplyError and the others were still made. Blocked changes
// have results with plan.ErrBlocked and are not failures.
//
// With opts.DryRun, topic creates, partition increases, config and quota
// changes go to Kafka as ValidateOnly requests; ACL, SCRAM and delete
// requests, which Kafka cannot validate, are not sent; no password is
// generated and no state is written.
func (t *Target) Apply(ctx context.Context, req plan.Request, opts plan.ApplyOptions) ([]plan.Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	all, err := t.plan(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(all.items) == 0 {
		return nil, nil
	}
	// A tenant whose fresh plan is not the one checked is not touched.
	p := &planned{items: all.items}
	stale := req.StaleChecker(plan.Kafka, t.name)
	for _, tp := range all.tenants {
		changes := make([]*plan.Change, len(tp.items))
		for i, it := range tp.items {
			changes[i] = &it.change
		}
		if err := stale.Adopt(tp.name, changes); err != nil {
			for _, it := range tp.items {
				if it.change.Action != plan.Blocked {
					it.refuse("apply", err)
				}
			}
			opts.Done(tp.name)
			continue
		}
		p.tenants = append(p.tenants, tp)
	}
	if !opts.DryRun {
		if err := t.saveBefore(ctx, p, req.Revision); err != nil {
			return nil, err
		}
	}
	w := &writer{t: t, dry: opts.DryRun}
	// What was made must be remembered even when ctx ended mid-apply.
	saveCtx := context.WithoutCancel(ctx)
	saveErrs := &plan.PartialError{Target: "kafka " + t.name}
	// Rounds: each takes every tenant whose turn on the gate has come
	// (waiting for the first when none has), sends its batches and saves
	// its inventory. Without a gate there is one round.
	for pending := p.tenants; len(pending) > 0; {
		var round, rest []*tenantPlan
		pending = plan.ReadyFirst(opts, pending, func(tp *tenantPlan) string { return tp.name })
		if err := opts.Wait(ctx, pending[0].name); err != nil {
			for _, tp := range pending {
				for _, it := range tp.items {
					if err := plan.GateFailed(it.change, err); err != nil {
						it.errs = append(it.errs, err)
						it.definitive = true
					}
				}
			}
			round = pending
		} else {
			for _, tp := range pending {
				if opts.Ready(tp.name) {
					round = append(round, tp)
				} else {
					rest = append(rest, tp)
				}
			}
			items := itemsOf(p.items, round)
			w.phase(ctx, items, levelTopics, false)
			w.phase(ctx, items, levelAccess, false)
			w.phase(ctx, items, levelAccess, true)
			w.phase(ctx, items, levelTopics, true)
		}
		if !opts.DryRun {
			t.saveAfter(saveCtx, &planned{tenants: round}, req.Revision, saveErrs)
			// A tenant is done once what it was given shows.
			t.settle(ctx, req, &planned{tenants: round, items: itemsOf(p.items, round)})
		}
		for _, tp := range round {
			opts.Done(tp.name)
			tp.applied()
		}
		pending = rest
	}
	results := make([]plan.Result, len(p.items))
	for i, it := range p.items {
		results[i] = plan.Result{Change: it.change, Err: errors.Join(it.errs...)}
		results[i].Notes = append(results[i].Notes, it.notes...)
	}
	results, applyErr := plan.Finish("kafka "+t.name, results)
	return results, errors.Join(applyErr, saveErrs.Err())
}

// applied lets go of what the tenant's apply needed once its round is
// over (its writes, records and inventory): the results need only each
// item's change, errors and notes. A sync of a thousand tenants then
// holds only the work of those still waiting for their turn.
func (tp *tenantPlan) applied() {
	for _, it := range tp.items {
		it.record, it.topic, it.acl, it.quota, it.user = nil, nil, nil, nil, nil
	}
	tp.items, tp.desired, tp.stored, tp.entry.Resources = nil, nil, nil, nil
	tp.prune, tp.confirmed = nil, nil
}

// itemsOf returns the items of the tenants, in the order of items.
func itemsOf(items []*item, tenants []*tenantPlan) []*item {
	in := make(map[string]bool, len(tenants))
	for _, tp := range tenants {
		in[tp.name] = true
	}
	var out []*item
	for _, it := range items {
		if in[it.change.Tenant] {
			out = append(out, it)
		}
	}
	return out
}

// writer sends the batches of one apply.
type writer struct {
	t   *Target
	dry bool
}

// phase runs one level of creates and updates (down=false) or of deletes
// (down=true): one request per kind of write, concurrently.
func (w *writer) phase(ctx context.Context, items []*item, level int, down bool) {
	var b batches
	for _, it := range items {
		if it.change.Level != level {
			continue
		}
		switch a := it.change.Action; {
		case a == plan.Blocked, a == plan.Orphan:
		case down == (a == plan.Delete):
			b.add(it, down)
		case down && it.user != nil && len(it.user.remove) > 0 && len(it.errs) == 0:
			// A mechanism change removes the old credential once the
			// new one is in place, in a request of its own: Kafka takes
			// a user once per request.
			b.removeUsers = append(b.removeUsers, it)
		}
	}
	var wg sync.WaitGroup
	run := func(items []*item, fn func(context.Context, []*item)) {
		if len(items) > 0 {
			wg.Go(func() {
				for _, c := range chunks(items) {
					fn(ctx, c)
				}
			})
		}
	}
	run(b.createTopics, w.createTopics)
	run(b.createPartitions, w.createPartitions)
	run(b.alterConfigs, w.alterConfigs)
	run(b.deleteTopics, w.deleteTopics)
	run(b.createACLs, w.createACLs)
	run(b.deleteACLs, w.deleteACLs)
	run(b.quotas, w.alterQuotas)
	run(b.upsertUsers, w.upsertUsers)
	run(b.removeUsers, w.removeUsers)
	wg.Wait()
}

// maxRecordsPerRequest bounds the metadata records one write request
// makes. A Kafka controller refuses an operation of more than 10,000
// records ("excessively large batch"): a first apply of a thousand
// tenants' topics in one CreateTopics was refused whole.
const maxRecordsPerRequest = 5000

// chunks cuts the items of one kind of write into requests of at most
// maxRecordsPerRequest records each (an item larger than that goes alone).
func chunks(items []*item) [][]*item {
	var out [][]*item
	start, n := 0, 0
	for i, it := range items {
		r := records(it)
		if i > start && n+r > maxRecordsPerRequest {
			out = append(out, items[start:i])
			start, n = i, 0
		}
		n += r
	}
	return append(out, items[start:])
}

// records estimates the metadata records a write of it makes: a topic
// and a record per partition and config; one per binding, key or
// credential.
func records(it *item) int {
	n := 1
	if tw := it.topic; tw != nil {
		if tw.create != nil {
			n += int(tw.create.Partitions) + len(tw.create.Configs)
		}
		n += int(tw.partitions) + len(tw.set) + len(tw.reset)
	}
	if q := it.quota; q != nil {
		n += len(q.set) + len(q.remove)
	}
	if u := it.user; u != nil {
		n += len(u.remove)
	}
	return n
}

// batches sorts the items of one phase by the request they go in.
type batches struct {
	createTopics, createPartitions, alterConfigs, deleteTopics []*item
	createACLs, deleteACLs, quotas, upsertUsers, removeUsers   []*item
}

func (b *batches) add(it *item, down bool) {
	switch {
	case it.topic != nil:
		tw := it.topic
		if tw.create != nil {
			b.createTopics = append(b.createTopics, it)
		}
		if tw.partitions > 0 {
			b.createPartitions = append(b.createPartitions, it)
		}
		if len(tw.set) > 0 || len(tw.reset) > 0 {
			b.alterConfigs = append(b.alterConfigs, it)
		}
		if tw.delete {
			b.deleteTopics = append(b.deleteTopics, it)
		}
	case it.acl != nil && down:
		b.deleteACLs = append(b.deleteACLs, it)
	case it.acl != nil:
		b.createACLs = append(b.createACLs, it)
	case it.quota != nil:
		b.quotas = append(b.quotas, it)
	case it.user != nil && down:
		b.removeUsers = append(b.removeUsers, it)
	case it.user != nil && it.user.upsert:
		b.upsertUsers = append(b.upsertUsers, it)
	}
}

// saveBefore adds what the apply is about to create to the
// inventory before anything is written: a crash mid-apply must not leave a
// resource k3sync made without k3sync knowing it owns it.
func (t *Target) saveBefore(ctx context.Context, p *planned, revision string) error {
	for _, tp := range p.tenants {
		res := maps.Clone(tp.entry.Resources)
		for _, it := range tp.items {
			switch {
			case it.owned:
			case it.change.Action == plan.Create:
				res[it.id] = it.record
				res[pendingID(it.id)] = null
			case it.change.Action == plan.Update:
				res[it.id] = it.record
			}
		}
		if sameResources(res, tp.stored) {
			continue
		}
		if err := t.save(ctx, tp, res, revision); err != nil {
			return err
		}
	}
	return nil
}

// saveAfter records what exists now: made changes take their new last
// applied value, deleted and orphaned resources leave the inventory, and
// what failed keeps its old value. A create that failed stays in the
// inventory unless the broker rejected it for good: it may exist. A
// tenant whose inventory could not be saved is added to failed.
func (t *Target) saveAfter(ctx context.Context, p *planned, revision string, failed *plan.PartialError) {
	for _, tp := range p.tenants {
		res := maps.Clone(tp.entry.Resources)
		for _, id := range tp.prune {
			delete(res, id)
			delete(res, pendingID(id))
		}
		for _, id := range tp.confirmed {
			delete(res, pendingID(id))
		}
		for _, it := range tp.items {
			ok := len(it.errs) == 0
			switch it.change.Action {
			case plan.Create:
				switch {
				case ok:
					res[it.id] = it.record
					delete(res, pendingID(it.id))
				case !it.owned && !it.definitive:
					// It may exist: owned, and pending.
					res[it.id] = it.record
					res[pendingID(it.id)] = null
				}
			case plan.Update, plan.Adopt:
				if ok {
					res[it.id] = it.record
				}
			case plan.Delete, plan.Orphan:
				if ok {
					delete(res, it.id)
					delete(res, pendingID(it.id))
				}
			case plan.Blocked:
			}
		}
		if sameResources(res, tp.stored) {
			continue
		}
		failed.Add(tp.name, t.save(ctx, tp, res, revision))
	}
}

// save writes res as tp's inventory and remembers it as what the store
// holds.
func (t *Target) save(ctx context.Context, tp *tenantPlan, res map[string]json.RawMessage, revision string) error {
	e := state.Entry{Tenant: tp.name, Target: t.stateID, Revision: revision, Resources: res, UpdatedAt: t.now().UTC()}
	if err := t.store.Save(ctx, e); err != nil {
		return fmt.Errorf("kafka %s: tenant %s: save inventory: %w", t.name, tp.name, err)
	}
	tp.stored = maps.Clone(res)
	return nil
}

// null is the value of a pending mark.
var null = json.RawMessage("null")

func sameResources(a, b map[string]json.RawMessage) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

// settleTimeout bounds how long an apply waits for the brokers to show
// its writes.
const settleTimeout = 10 * time.Second

// settle waits, for up to settleTimeout, until a fresh plan of req no
// longer has the changes the apply made to the tenants of p (a round)
// and the brokers no longer show what it deleted. A broker answers a
// write once the controller committed it, and applies it to the metadata
// it answers reads from a little later (milliseconds, up to a second on a
// loaded broker, each broker on its own). Without the wait, a plan right
// after the apply would see its creates missing and plan them again (as
// drift: "deleted outside k3sync"; a second apply would send them all
// again, with new passwords for the users), its partitions not yet added
// (CreatePartitions again: INVALID_PARTITIONS), and the topics it deleted
// still there (a topic put back in Git would be blocked as not owned).
// A config reset needs the same wait: once the apply saved that Git no
// longer sets the config, a plan that still sees it set on the topic
// reports it as set outside Git and leaves it.
// Waiting makes an apply read-your-writes. Nothing is written while
// waiting, and a broker that does not catch up in time is no error: the
// next plan sees it.
func (t *Target) settle(ctx context.Context, req plan.Request, p *planned) {
	made := map[plan.Key]bool{}
	for _, it := range p.items {
		wrote := it.topic != nil || it.acl != nil || it.quota != nil || it.user != nil
		if wrote && len(it.errs) == 0 && it.change.Action != plan.Blocked && it.change.Action != plan.Orphan && it.change.Action != plan.Delete {
			made[it.change.Key] = true
		}
	}
	g := goneOf(p)
	if len(made) == 0 && g.none() {
		return
	}
	req = narrowed(req, p.tenants)
	deadline := time.Now().Add(settleTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		if t.settled(ctx, req, made, g) {
			return
		}
		if time.Now().Add(wait).After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// narrowed is req for the tenants only: what settle plans again is the
// round's, not every tenant's of the request.
func narrowed(req plan.Request, tenants []*tenantPlan) plan.Request {
	in := make(map[string]bool, len(tenants))
	for _, tp := range tenants {
		in[tp.name] = true
	}
	out := req
	out.Tenants, out.Complete, out.Checked = nil, false, nil
	for _, tr := range req.Tenants {
		if in[tr.Name()] {
			out.Tenants = append(out.Tenants, tr)
			delete(in, tr.Name())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(in)) {
		// Removed from Git, found by a Complete request.
		out.Tenants = append(out.Tenants, plan.RemovedTenant(name))
	}
	return out
}

// settled reports whether the brokers show the writes of an apply.
func (t *Target) settled(ctx context.Context, req plan.Request, made map[plan.Key]bool, g gone) bool {
	if len(made) > 0 {
		p, err := t.plan(ctx, req)
		if err != nil || slices.ContainsFunc(p.items, func(it *item) bool { return made[it.change.Key] }) {
			return false
		}
	}
	if g.none() {
		return true
	}
	snap, err := t.read(ctx, g.sc)
	return err == nil && !g.shown(snap)
}

// gone is what an apply deleted: the plan no longer looks at it (it left
// the inventory, or Git and the last applied state no longer set it), so
// settle reads it on its own.
type gone struct {
	sc      scope
	topics  map[string]bool     // deleted
	configs map[string][]string // topic -> configs reset to the default
	acls    []render.KafkaACL
	quotas  map[string][]string // user -> keys removed
	users   map[string][]string // user -> mechanisms removed
}

func goneOf(p *planned) gone {
	g := gone{topics: map[string]bool{}, configs: map[string][]string{}, quotas: map[string][]string{}, users: map[string][]string{}}
	entries := map[string]state.Entry{}
	for _, tp := range p.tenants {
		entries[tp.name] = tp.entry
	}
	for _, it := range p.items {
		if len(it.errs) > 0 {
			continue
		}
		if it.change.Action != plan.Delete {
			if it.topic != nil && len(it.topic.reset) > 0 && it.change.Action != plan.Blocked && it.change.Action != plan.Orphan {
				g.configs[it.change.Name] = it.topic.reset
				g.sc.topics = append(g.sc.topics, it.change.Name)
			}
			continue
		}
		switch {
		case it.topic != nil && it.topic.delete:
			g.topics[it.change.Name] = true
			g.sc.topics = append(g.sc.topics, it.change.Name)
		case it.acl != nil:
			if a := decode[render.KafkaACL](entries[it.change.Tenant].Resources[it.id]); a != nil {
				g.acls = append(g.acls, normalACL(*a))
				g.sc.acls = true
			}
		case it.quota != nil:
			g.quotas[it.quota.user] = it.quota.remove
			g.sc.quotas = true
		case it.user != nil:
			g.users[it.user.name] = it.user.remove
			g.sc.users = true
		}
	}
	return g
}

func (g gone) none() bool {
	return len(g.sc.topics) == 0 && !g.sc.acls && !g.sc.quotas && !g.sc.users
}

// shown reports whether snap still has something that was deleted.
func (g gone) shown(snap *snapshot) bool {
	for name, lt := range snap.topics {
		if g.topics[name] {
			return true
		}
		for _, k := range g.configs[name] {
			if lt.configs[k].dynamic {
				return true
			}
		}
	}
	for _, a := range g.acls {
		if snap.acls[a] {
			return true
		}
	}
	for user, keys := range g.quotas {
		for _, k := range keys {
			if _, ok := snap.quotas[user][k]; ok {
				return true
			}
		}
	}
	for user, mechs := range g.users {
		for _, m := range mechs {
			if _, ok := snap.users[user][m]; ok {
				return true
			}
		}
	}
	return false
}
