package apply

import (
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
// recorded in the plan's Errors; the others' changes are still there.
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
	p := &plan.Plan{Revision: req.Revision}
	for i, t := range e.targets {
		if errs[i] != nil {
			p.Errors = append(p.Errors, plan.TargetError{System: t.System(), Target: t.Name(), Message: errs[i].Error()})
			continue
		}
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

// Apply applies the request system by system.
func (e *Engine) Apply(ctx context.Context, req plan.Request, opts plan.ApplyOptions) *Report {
	r := &Report{}
	var mu sync.Mutex
	for _, sys := range plan.Systems {
		var g errgroup.Group
		for _, t := range e.targets {
			if t.System() != sys {
				continue
			}
			g.Go(func() error {
				results, err := t.Apply(ctx, req, opts)
				mu.Lock()
				defer mu.Unlock()
				r.Results = append(r.Results, results...)
				if err != nil {
					r.Errors = append(r.Errors, plan.TargetError{System: t.System(), Target: t.Name(), Message: err.Error()})
				}
				return nil
			})
		}
		_ = g.Wait()
	}
	slices.SortStableFunc(r.Results, func(a, b plan.Result) int { return plan.Compare(a.Change, b.Change) })
	return r
}

// String describes a target.
func String(t Target) string { return fmt.Sprintf("%s/%s", t.System(), t.Name()) }
