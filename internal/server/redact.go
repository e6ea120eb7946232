package server

import (
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// The backend's values carry field values as they are; these copies
// replace sensitive ones by plan.Redacted, as plan.WriteJSON does, and
// never modify what the backend returned (it may share them).

func redactFields(fs []plan.FieldChange) []plan.FieldChange {
	if fs == nil {
		return nil
	}
	out := make([]plan.FieldChange, len(fs))
	for i, f := range fs {
		if f.Sensitive {
			if f.Before != nil {
				f.Before = plan.Redacted
			}
			if f.After != nil {
				f.After = plan.Redacted
			}
		}
		out[i] = f
	}
	return out
}

func redactChange(c plan.Change) plan.Change {
	c.Fields = redactFields(c.Fields)
	return c
}

func redactPlan(p *plan.Plan) *plan.Plan {
	if p == nil {
		return nil
	}
	out := *p
	if p.Changes != nil {
		out.Changes = make([]plan.Change, len(p.Changes))
		for i, c := range p.Changes {
			out.Changes[i] = redactChange(c)
		}
	}
	return &out
}

func redactRun(r state.Run) state.Run {
	if r.Changes != nil {
		changes := make([]plan.Result, len(r.Changes))
		for i, c := range r.Changes {
			c.Change = redactChange(c.Change)
			changes[i] = c
		}
		r.Changes = changes
	}
	return r
}

func redactRuns(rs []state.Run) []state.Run {
	out := make([]state.Run, len(rs))
	for i, r := range rs {
		out[i] = redactRun(r)
	}
	return out
}

func redactDrift(d state.Drift) state.Drift {
	if d.Items != nil {
		items := make([]state.DriftItem, len(d.Items))
		for i, it := range d.Items {
			it.Change = redactChange(it.Change)
			items[i] = it
		}
		d.Items = items
	}
	return d
}

func redactTenant(t view.Tenant) view.Tenant {
	t.Plan = redactPlan(t.Plan)
	t.Drift = redactDrift(t.Drift)
	t.History = redactRuns(t.History)
	return t
}

func redactSync(s view.Sync) view.Sync {
	if s.Runs != nil {
		s.Runs = redactRuns(s.Runs)
	}
	return s
}
