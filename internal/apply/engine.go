package apply

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/plan"
)

// Target is one cluster, Kafka cluster or gateway.
type Target interface {
	System() plan.System
	Name() string
	Plan(ctx context.Context, req plan.Request) ([]plan.Change, error)
	Apply(ctx context.Context, req plan.Request, opts plan.ApplyOptions) ([]plan.Result, error)
}

// Engine plans and applies across targets.
type Engine struct {
	targets []Target
}

// New returns an engine over targets.
func New(targets ...Target) *Engine {
	return &Engine{targets: targets}
}

// Plan asks every target for its changes. A target that cannot plan is
// recorded in the plan's Errors; the others' changes are still there, and
// so are the changes a target planned for its other tenants when only
// some failed (a *plan.PartialError): each failed tenant is an error of
// its own.
func (e *Engine) Plan(ctx context.Context, req plan.Request) *plan.Plan {
	changes := make([][]plan.Change, len(e.targets))
	errs := make([]error, len(e.targets))
	var g errgroup.Group
	for i, t := range e.targets {
		g.Go(func() error {
			changes[i], errs[i] = t.Plan(ctx, req)
			return nil
		})
	}
	_ = g.Wait()
	n := 0
	for _, cs := range changes {
		n += len(cs)
	}
	p := &plan.Plan{Revision: req.Revision, Changes: make([]plan.Change, 0, n)}
	for i, t := range e.targets {
		p.Errors = append(p.Errors, targetErrors(t, errs[i])...)
		p.Changes = append(p.Changes, changes[i]...)
	}
	plan.Sort(p.Changes)
	return p
}

// Report is the outcome of an apply.
type Report struct {
	Results []plan.Result      `json:"results"`
	Errors  []plan.TargetError `json:"errors,omitempty"`
}

// Failed reports whether anything failed.
func (r *Report) Failed() bool {
	return len(r.Errors) > 0 || slices.ContainsFunc(r.Results, func(res plan.Result) bool { return res.Err != nil })
}

// Apply applies the request. Every target starts at once, and each
// tenant goes through the systems in order: a target waits on
// opts.Gate before its first change of a tenant until every target of
// the earlier systems is done with that tenant (or has returned). A
// tenant the request removes from Git (plan.Request.Removals) goes
// through them in reverse, Kong first and Kubernetes last, so that its
// namespaces, which hold its credentials, go after what the credentials
// are for. Tenants are thereby pipelined: one tenant's Kong changes can
// be made while another's namespaces are still being created. A caller's
// own gate in opts is replaced.
func (e *Engine) Apply(ctx context.Context, req plan.Request, opts plan.ApplyOptions) *Report {
	r := &Report{}
	p := newPipeline(e.targets, req.Removals())
	// Each target's results and errors apart, joined once all are done:
	// appending each to one list as it finished grew and copied the
	// list, tens of thousands of results in a first sync, once per target.
	results := make([][]plan.Result, len(e.targets))
	errs := make([][]plan.TargetError, len(e.targets))
	var g errgroup.Group
	for i, t := range e.targets {
		o := opts
		o.Gate = p.gate(i)
		g.Go(func() error {
			defer p.finish(i)
			var err error
			results[i], err = t.Apply(ctx, req, o)
			errs[i] = targetErrors(t, err)
			return nil
		})
	}
	_ = g.Wait()
	r.Results, r.Errors = slices.Concat(results...), slices.Concat(errs...)
	slices.SortStableFunc(r.Results, func(a, b plan.Result) int { return plan.Compare(a.Change, b.Change) })
	slices.SortStableFunc(r.Errors, func(a, b plan.TargetError) int {
		return cmp.Or(cmp.Compare(plan.SystemOrder(a.System), plan.SystemOrder(b.System)), cmp.Compare(a.Target, b.Target), cmp.Compare(a.Tenant, b.Tenant))
	})
	return r
}

// targetErrors turns a target's error into the plan's or report's target
// errors: one per tenant of a *plan.PartialError, none for a
// *plan.ApplyError (each failed change's result carries its error, and
// marks its own tenant), one for the whole target otherwise. Joined
// errors are taken apart.
func targetErrors(t Target, err error) []plan.TargetError {
	if err == nil {
		return nil
	}
	switch e := err.(type) { //nolint:errorlint // the target's own error, taken apart below when joined
	case *plan.PartialError:
		out := make([]plan.TargetError, len(e.Tenants))
		for i, te := range e.Tenants {
			out[i] = plan.TargetError{Tenant: te.Tenant, System: t.System(), Target: t.Name(), Message: te.Err.Error()}
		}
		return out
	case *plan.ApplyError:
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []plan.TargetError
		for _, e := range j.Unwrap() {
			out = append(out, targetErrors(t, e)...)
		}
		return out
	}
	return []plan.TargetError{{System: t.System(), Target: t.Name(), Message: err.Error()}}
}

// pipeline tracks, per target, the tenants it is done with.
type pipeline struct {
	targets []Target
	// removed reports the tenants removed from Git, which go through the
	// systems in reverse: their deletes in Kong before Kafka, in Kafka
	// before the namespaces that received their credentials.
	removed func(tenant string) bool
	mu      sync.Mutex
	// done[i][tenant] is closed when target i is done with tenant;
	// finished[i] when target i's Apply returned.
	done     []map[string]chan struct{}
	finished []chan struct{}
}

func newPipeline(targets []Target, removed func(string) bool) *pipeline {
	p := &pipeline{targets: targets, removed: removed}
	for range targets {
		p.done = append(p.done, map[string]chan struct{}{})
		p.finished = append(p.finished, make(chan struct{}))
	}
	return p
}

// doneCh returns the channel closed when target i is done with tenant.
func (p *pipeline) doneCh(i int, tenant string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.done[i][tenant]
	if !ok {
		ch = make(chan struct{})
		p.done[i][tenant] = ch
	}
	return ch
}

func (p *pipeline) markDone(i int, tenant string) {
	ch := p.doneCh(i, tenant)
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (p *pipeline) finish(i int) { close(p.finished[i]) }

// gate is the gate of target i: it waits for every target of an earlier
// system, or of a later one for a tenant removed from Git.
func (p *pipeline) gate(i int) plan.Gate {
	g := &gate{p: p, self: i}
	order := plan.SystemOrder(p.targets[i].System())
	for j, t := range p.targets {
		switch o := plan.SystemOrder(t.System()); {
		case o < order:
			g.before = append(g.before, j)
		case o > order:
			g.after = append(g.after, j)
		}
	}
	return g
}

type gate struct {
	p    *pipeline
	self int
	// before are the targets of earlier systems, after those of later ones.
	before, after []int
}

// waitsFor is the targets that must be done with tenant first.
func (g *gate) waitsFor(tenant string) []int {
	if g.p.removed(tenant) {
		return g.after
	}
	return g.before
}

func (g *gate) Wait(ctx context.Context, tenant string) error {
	for _, j := range g.waitsFor(tenant) {
		select {
		case <-g.p.doneCh(j, tenant):
		case <-g.p.finished[j]:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to finish with tenant %s: %w", String(g.p.targets[j]), tenant, ctx.Err())
		}
	}
	return nil
}

func (g *gate) Ready(tenant string) bool {
	for _, j := range g.waitsFor(tenant) {
		select {
		case <-g.p.doneCh(j, tenant):
		case <-g.p.finished[j]:
		default:
			return false
		}
	}
	return true
}

func (g *gate) Done(tenant string) { g.p.markDone(g.self, tenant) }

// String describes a target.
func String(t Target) string { return fmt.Sprintf("%s/%s", t.System(), t.Name()) }
